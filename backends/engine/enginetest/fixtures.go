package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/safetensors"
	"github.com/memscope/memscope/intervention"
)

// tinyRef is a tiny model's reference.safetensors (made with HF
// transformers) and reference.json.
type tinyRef struct {
	f      *safetensors.File
	ids    [][]int32 // [B][T]
	B, T   int
	scSet  []int
	prefix int
	newTok int
}

func openTinyRef(t *testing.T, name string) *tinyRef {
	t.Helper()
	dir := filepath.Join(TinyDir(), name)
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

// fixtures checks every key of each tiny model's reference file: logits
// (base, per-block short-circuit and zero-ablation, the block set, all
// blocks), every hidden state (engines with HiddenStates), and greedy
// continuations (base and each block short-circuited).
func (k Kit) fixtures(t *testing.T) {
	ctx := context.Background()
	for _, name := range TinyModels {
		t.Run(name, func(t *testing.T) {
			m := k.tiny(t, name, engine.Limits{})
			ref := openTinyRef(t, name)
			L := m.Config().NumLayers
			worst := 0.0
			checked, skipped := 0, 0
			check := func(key string, got []float32) {
				want, err := ref.f.Float32(key)
				require.NoError(t, err, key)
				d := maxAbsDiff(t, got, want)
				worst = max(worst, d)
				checked++
				assert.LessOrEqual(t, d, k.LogitTol, "%s: max |Δ| = %.3g", key, d)
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
			hidden := 0
			for _, ti := range ref.f.Tensors() {
				if len(ti.Name) > 7 && ti.Name[:7] == "hidden." {
					hidden++
				}
			}
			if hs, ok := m.(engine.HiddenStater); ok {
				got, err := hs.HiddenStates(ctx, ref.ids, intervention.Baseline())
				require.NoError(t, err)
				require.Len(t, got, L+1)
				for i, h := range got {
					check(fmt.Sprintf("hidden.base.%d", i), h)
				}
			} else {
				t.Logf("the engine has no HiddenStates (engine.HiddenStater): %d hidden-state keys not checked", hidden)
				skipped = hidden
			}
			all := make([]int, L)
			for b := 0; b < L; b++ {
				all[b] = b
				check(fmt.Sprintf("logits.sc.%d", b), logits(intervention.New(intervention.AttnShortCircuit, b)))
				check(fmt.Sprintf("logits.zero.%d", b), logits(intervention.New(intervention.AttnZero, b)))
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
			for b := 0; b < L; b++ {
				greedy(fmt.Sprintf("greedy.sc.%d", b), intervention.New(intervention.AttnShortCircuit, b))
			}
			// every key of the reference file was checked
			assert.Equal(t, len(ref.f.Tensors())-1, checked+skipped, "reference keys checked or reported (all but input_ids)")
			t.Logf("%s: %d keys, max |Δ| over all float keys = %.3g", name, checked, worst)
		})
	}
}
