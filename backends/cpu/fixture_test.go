package cpu

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/safetensors"
	"github.com/memscope/memscope/intervention"
)

const tinyDir = "../testdata/tiny"

var tinyModels = []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneox-tiny-bf16", "gptneo-tiny", "gptneo-tiny-fp16"}

// logitTol is the acceptance bar against HF transformers (fp32 on GPU).
const logitTol = 1e-4

type tinyRef struct {
	f        *safetensors.File
	ids      [][]int32 // [B][T]
	B, T     int
	scSet    []int
	prefix   int
	newTok   int
	numLayer int
}

func openTinyRef(t *testing.T, name string) *tinyRef {
	t.Helper()
	dir := filepath.Join(tinyDir, name)
	f, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	var meta struct {
		PrefixLen       int   `json:"prefix_len"`
		NewTokens       int   `json:"new_tokens"`
		ShortCircuitSet []int `json:"short_circuit_set"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &meta))
	tin, ok := f.Lookup("input_ids")
	require.True(t, ok)
	raw, err := f.Int64("input_ids")
	require.NoError(t, err)
	r := &tinyRef{f: f, B: tin.Shape[0], T: tin.Shape[1], scSet: meta.ShortCircuitSet, prefix: meta.PrefixLen, newTok: meta.NewTokens}
	r.ids = make([][]int32, r.B)
	for b := range r.ids {
		r.ids[b] = make([]int32, r.T)
		for i := range r.ids[b] {
			r.ids[b][i] = int32(raw[b*r.T+i])
		}
	}
	return r
}

func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	require.Equal(t, len(want), len(got))
	var m float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// TestTinyFixtures checks every key of each tiny model's reference file:
// logits (base, per-block short-circuit and zero-ablation, the block set,
// all blocks), every hidden state, and greedy continuations.
func TestTinyFixtures(t *testing.T) {
	ctx := context.Background()
	for _, name := range tinyModels {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join(tinyDir, name), Options{})
			require.NoError(t, err)
			defer m.Close()
			ref := openTinyRef(t, name)
			L := m.Config().NumLayers
			worst := 0.0
			checked := 0
			check := func(key string, got []float32) {
				want, err := ref.f.Float32(key)
				require.NoError(t, err, key)
				d := maxAbsDiff(t, got, want)
				worst = max(worst, d)
				checked++
				assert.LessOrEqual(t, d, logitTol, "%s: max |Δ| = %.3g", key, d)
				if os.Getenv("MEMSCOPE_VERBOSE") != "" {
					t.Logf("%s max |Δ| %.3g (max |ref| %.3g)", key, d, maxAbs(want))
				}
			}
			logits := func(iv intervention.Intervention) []float32 {
				out, err := m.Logits(ctx, ref.ids, iv)
				require.NoError(t, err)
				return out
			}
			check("logits.base", logits(intervention.Baseline()))
			hs, err := m.HiddenStates(ctx, ref.ids, intervention.Baseline())
			require.NoError(t, err)
			require.Len(t, hs, L+1)
			for i, h := range hs {
				check(fmt.Sprintf("hidden.base.%d", i), h)
			}
			all := make([]int, L)
			for k := 0; k < L; k++ {
				all[k] = k
				check(fmt.Sprintf("logits.sc.%d", k), logits(intervention.New(intervention.AttnShortCircuit, k)))
				check(fmt.Sprintf("logits.zero.%d", k), logits(intervention.New(intervention.AttnZero, k)))
			}
			check("logits.sc.set", logits(intervention.New(intervention.AttnShortCircuit, ref.scSet...)))
			check("logits.sc.all", logits(intervention.New(intervention.AttnShortCircuit, all...)))

			prefixes := make([][]int32, ref.B)
			for b := range prefixes {
				prefixes[b] = ref.ids[b][:ref.prefix]
			}
			greedy := func(key string, iv intervention.Intervention) {
				want, err := ref.f.Int64(key)
				require.NoError(t, err)
				gens, err := m.Generate(ctx, prefixes, ref.newTok, iv)
				require.NoError(t, err)
				for b, g := range gens {
					got := make([]int64, len(g.IDs))
					for i, id := range g.IDs {
						got[i] = int64(id)
					}
					assert.Equal(t, want[b*ref.newTok:(b+1)*ref.newTok], got, "%s sequence %d", key, b)
				}
				checked++
			}
			greedy("greedy.base", intervention.Baseline())
			for k := 0; k < L; k++ {
				greedy(fmt.Sprintf("greedy.sc.%d", k), intervention.New(intervention.AttnShortCircuit, k))
			}
			// every key of the reference file was checked
			assert.Equal(t, len(ref.f.Tensors())-1, checked, "reference keys checked (all but input_ids)")
			t.Logf("%s: %d keys, max |Δ| over all float keys = %.3g", name, checked, worst)
		})
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
