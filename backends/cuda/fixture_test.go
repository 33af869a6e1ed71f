package cuda

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

	"github.com/memscope/memscope/backends/cuda/emu"
	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/safetensors"
	"github.com/memscope/memscope/intervention"
)

const tinyDir = "../testdata/tiny"

var tinyModels = []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneox-tiny-bf16", "gptneo-tiny", "gptneo-tiny-fp16"}

// logitTol is the acceptance bar against HF transformers in float32.
const logitTol = 1e-4

// testDevice is the device engine tests run on: the CPU emulator.
func testDevice(t testing.TB) gpu.Device {
	t.Helper()
	if !emu.Available {
		t.Skip("the cuda engine's tests run its kernels on the CPU emulator, which needs cgo and g++ (this build has CGO_ENABLED=0)")
	}
	d, err := emu.Open(emu.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

func loadTiny(t testing.TB, dev gpu.Device, name string, opts Options) *Model {
	t.Helper()
	m, err := Load(dev, filepath.Join(tinyDir, name), opts)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

type tinyRef struct {
	f      *safetensors.File
	ids    [][]int32
	scSet  []int
	prefix int
	newTok int
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
	info, ok := f.Lookup("input_ids")
	require.True(t, ok)
	raw, err := f.Int64("input_ids")
	require.NoError(t, err)
	B, T := info.Shape[0], info.Shape[1]
	r := &tinyRef{f: f, scSet: meta.ShortCircuitSet, prefix: meta.PrefixLen, newTok: meta.NewTokens}
	for b := 0; b < B; b++ {
		row := make([]int32, T)
		for i := range row {
			row[i] = int32(raw[b*T+i])
		}
		r.ids = append(r.ids, row)
	}
	return r
}

func maxAbsDiff(got, want []float32) float64 {
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

// fixtureResult is one model's agreement with the HF reference.
type fixtureResult struct {
	worst       float64 // max |Δ| over every float key
	worstRel    float64 // max over keys of max |Δ| / max |reference|
	keys        int
	greedyRows  int
	greedyEqual int
}

// checkFixture compares every key of a tiny model's reference file; with
// strict, it fails on logits beyond logitTol and on greedy mismatches.
func checkFixture(t *testing.T, m *Model, name string, strict bool) fixtureResult {
	ctx := context.Background()
	ref := openTinyRef(t, name)
	L := m.Config().NumLayers
	var res fixtureResult
	check := func(key string, got []float32) {
		want, err := ref.f.Float32(key)
		require.NoError(t, err, key)
		require.Len(t, got, len(want), key)
		d := maxAbsDiff(got, want)
		res.worst = max(res.worst, d)
		var ref float64
		for _, v := range want {
			ref = max(ref, math.Abs(float64(v)))
		}
		res.worstRel = max(res.worstRel, d/ref)
		res.keys++
		if strict {
			assert.LessOrEqual(t, d, logitTol, "%s: max |Δ| = %.3g", key, d)
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
	prefixes := make([][]int32, len(ref.ids))
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
			res.greedyRows++
			if assert.ObjectsAreEqual(want[b*ref.newTok:(b+1)*ref.newTok], got) {
				res.greedyEqual++
			} else if strict {
				assert.Equal(t, want[b*ref.newTok:(b+1)*ref.newTok], got, "%s sequence %d", key, b)
			}
		}
		res.keys++
	}
	greedy("greedy.base", intervention.Baseline())
	for k := 0; k < L; k++ {
		greedy(fmt.Sprintf("greedy.sc.%d", k), intervention.New(intervention.AttnShortCircuit, k))
	}
	assert.Equal(t, len(ref.f.Tensors())-1, res.keys, "reference keys checked (all but input_ids)")
	return res
}

// TestTinyFixtures: in float32 on the emulated device, every logit and
// hidden state of every tiny model is within 1e-4 of HF transformers and
// every greedy continuation is HF's.
func TestTinyFixtures(t *testing.T) {
	dev := testDevice(t)
	for _, name := range tinyModels {
		t.Run(name, func(t *testing.T) {
			m := loadTiny(t, dev, name, Options{DType: "float32"})
			r := checkFixture(t, m, name, true)
			t.Logf("%s float32: %d keys, max |Δ| = %.3g, greedy rows equal %d/%d", name, r.keys, r.worst, r.greedyEqual, r.greedyRows)
		})
	}
}

// TestTinyFixturesHalf reports how close float16 and bfloat16 compute
// (weights and matrix-product inputs rounded, float32 accumulation) comes
// to the float32 HF reference, and bounds it loosely: a wrong kernel
// instance is off by whole units, rounding by about 1% at most.
func TestTinyFixturesHalf(t *testing.T) {
	dev := testDevice(t)
	for _, dt := range []string{"float16", "bfloat16"} {
		for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
			t.Run(dt+"/"+name, func(t *testing.T) {
				m := loadTiny(t, dev, name, Options{DType: dt})
				require.Equal(t, dt, m.DType())
				r := checkFixture(t, m, name, false)
				t.Logf("%s %s: max |Δ| vs HF float32 = %.3g (%.2g of the largest reference value), greedy rows equal %d/%d", name, dt, r.worst, r.worstRel, r.greedyEqual, r.greedyRows)
				assert.Less(t, r.worstRel, 0.05, "far beyond half-precision rounding")
				assert.GreaterOrEqual(t, float64(r.greedyEqual), 0.5*float64(r.greedyRows), "greedy continuations mostly agree")
			})
		}
	}
}
