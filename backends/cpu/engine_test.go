package cpu

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/engine/enginetest"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// batchTol bounds differences that only BLAS kernel rounding may cause
// when the same sequence runs in a different batch (OpenBLAS's edge
// kernels round differently depending on where a row falls in a tile):
// 1e-5 absolute plus 1e-6 relative (GPT-Neo's tied unembedding gives
// logits near 50, where a float32 ulp is 4e-6).
func batchTol(ref float64) float64 { return 1e-5 + 1e-6*math.Abs(ref) }

// maxScaledDiff is the largest |got−want| / batchTol(want).
func maxScaledDiff(got, want []float32) float64 {
	var m float64
	for i := range got {
		m = max(m, math.Abs(float64(got[i])-float64(want[i]))/batchTol(float64(want[i])))
	}
	return m
}

func loadTiny(t *testing.T, name string, opts Options) *Model {
	t.Helper()
	m, err := Load(filepath.Join(enginetest.TinyDir(), name), opts)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func randomIDs(rng *rand.Rand, n, vocab int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(vocab))
	}
	return out
}

// TestConformance runs the engine conformance kit on the cpu engine.
func TestConformance(t *testing.T) {
	enginetest.Run(t, func(dir string, lim engine.Limits) (engine.Engine, error) {
		return Load(dir, Options{Limits: lim})
	})
}

func maxAbsDiff(got, want []float32) float64 {
	var m float64
	for i := range got {
		m = max(m, math.Abs(float64(got[i])-float64(want[i])))
	}
	return m
}

// TestChunkedAttention: processing queries in chunks (as long contexts
// do) gives the same hidden states as one block. (Hidden states, not
// logits: GPT-Neo's tiny model has unembedding weights that turn 1-ulp
// differences of the residual stream into 3e-5 on logits near 50.)
func TestChunkedAttention(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
		m := loadTiny(t, name, Options{})
		rng := rand.New(rand.NewPCG(5, 6))
		ids := [][]int32{randomIDs(rng, 100, m.Config().VocabSize)}
		want, err := m.HiddenStates(ctx, ids, intervention.Baseline())
		require.NoError(t, err)
		saved := scoreBudget
		scoreBudget = 700 // 7 query rows per chunk at 100 keys
		got, err := m.HiddenStates(ctx, ids, intervention.Baseline())
		scoreBudget = saved
		require.NoError(t, err)
		for l := range want {
			assert.LessOrEqual(t, maxScaledDiff(got[l], want[l]), 1.0, "%s hidden %d: max |Δ| %.3g", name, l, maxAbsDiff(got[l], want[l]))
		}
	}
}

// TestRandomConfigErrors: configurations the engine cannot build are refused.
func TestRandomConfigErrors(t *testing.T) {
	cfg := Pythia160MConfig()
	cfg.ModelType = "llama"
	_, err := NewRandom(cfg, 1, Options{})
	assert.ErrorContains(t, err, "llama")
	cfg = Pythia160MConfig()
	cfg.Activation = "relu"
	_, err = NewRandom(cfg, 1, Options{})
	assert.ErrorContains(t, err, "relu")
	_, err = NewRandom(Pythia160MConfig(), 1, Options{Threads: -1})
	assert.Error(t, err)
}

// TestBLASMatchesGorgonia: the engine's matrix product (OpenBLAS through
// gorgonia's tensor BLAS) agrees with gorgonia's tensor.MatMul and a
// float64 reference.
func TestBLASMatchesGorgonia(t *testing.T) {
	cfg := modelconfig.Config{ModelType: modelconfig.GPTNeoX, VocabSize: 10, HiddenSize: 8, NumLayers: 1, NumHeads: 2,
		IntermediateSize: 16, MaxPositions: 8, LayerNormEps: 1e-5, Activation: modelconfig.ActGELU, RotaryPct: 0.5, RotaryBase: 10000}
	m, err := NewRandom(cfg, 1, Options{})
	require.NoError(t, err)
	t.Logf("BLAS: %s, %d threads", BLASInfo(), m.Threads())
	rng := rand.New(rand.NewPCG(11, 12))
	const R, K, N = 37, 129, 65
	x := make([]float32, R*K)
	w := make([]float32, N*K)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, R*N)
	m.linear(x, R, &linear{w: w, in: K, out: N}, y, actNone)
	a := tensor.New(tensor.WithShape(R, K), tensor.WithBacking(x))
	b := tensor.New(tensor.WithShape(N, K), tensor.WithBacking(append([]float32(nil), w...)))
	require.NoError(t, b.T())
	require.NoError(t, b.Transpose())
	c, err := tensor.MatMul(a, b)
	require.NoError(t, err)
	g := c.Data().([]float32)
	for r := 0; r < R; r++ {
		for n := 0; n < N; n++ {
			var ref float64
			for k := 0; k < K; k++ {
				ref += float64(x[r*K+k]) * float64(w[n*K+k])
			}
			assert.InDelta(t, ref, y[r*N+n], 1e-4)
			assert.InDelta(t, ref, g[r*N+n], 1e-4)
		}
	}
	assert.Equal(t, tensor.WhichBLAS(), m.blas.(tensor.BLAS))
	var _ blas.Float32Level3 = m.blas
}
