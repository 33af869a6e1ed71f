package cpu

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/engine/enginetest"
	"github.com/memscope/memscope/backends/safetensors"
	"github.com/memscope/memscope/intervention"
)

var (
	nan  = float32(math.NaN())
	pInf = float32(math.Inf(1))
	nInf = float32(math.Inf(-1))
)

// nonFiniteRows are logits rows with NaN, ±Inf and overflowing values at
// the start, the middle and the end, on both sides of the 8-lane loops.
func nonFiniteRows() [][]float32 {
	var rows [][]float32
	for _, n := range []int{1, 7, 8, 9, 33} {
		for _, bad := range []float32{nan, pInf, nInf, 3e38, -3e38} {
			for _, at := range []int{0, n / 2, n - 1} {
				z := make([]float32, n)
				for i := range z {
					z[i] = float32(i%5) - 2
				}
				z[at] = bad
				rows = append(rows, z)
			}
			all := make([]float32, n)
			for i := range all {
				all[i] = bad
			}
			rows = append(rows, all)
		}
		mixed := make([]float32, n)
		for i := range mixed {
			mixed[i] = []float32{nInf, 3e38, nan, pInf, -3e38}[i%5]
		}
		rows = append(rows, mixed)
	}
	return rows
}

// sameStat compares statistics, NaN equal to NaN and infinities exactly.
func sameStat(t *testing.T, want, got float64, msg string, args ...any) {
	t.Helper()
	switch {
	case math.IsNaN(want):
		assert.True(t, math.IsNaN(got), append([]any{msg + ": want NaN, got %v"}, append(args, got)...)...)
	case math.IsInf(want, 0):
		assert.Equal(t, want, got, append([]any{msg}, args...)...)
	default:
		assert.InDelta(t, want, got, 1e-6*max(1, math.Abs(want)), append([]any{msg}, args...)...)
	}
}

// Row statistics are defined for every row (engine.RowStats), in the
// vectorized kernels (both variants) and in Go: NaN rows used to send the
// C argmax search past the end of the row (a SIGSEGV).
func TestRowStatsNonFinite(t *testing.T) {
	for _, avx2 := range []bool{true, false} {
		saved := useAVX2
		if avx2 && !saved {
			continue
		}
		useAVX2 = avx2
		for _, z := range nonFiniteRows() {
			wa, wl, we := engine.RowStats(z)
			for name, f := range map[string]func([]float32) (int, float64, float64){"kernel": logitStats, "go": rowStats} {
				am, lz, ent := f(z)
				assert.Equal(t, wa, am, "%s argmax of %v (avx2 %v)", name, z, avx2)
				sameStat(t, wl, lz, "%s log Z of %v", name, z)
				sameStat(t, we, ent, "%s entropy of %v", name, z)
			}
		}
		useAVX2 = saved
	}
}

// The other kernels take any float without crashing, NaN in, NaN out, and
// allFinite spots every non-finite value wherever it sits.
func TestKernelsTakeNonFinite(t *testing.T) {
	for _, z := range nonFiniteRows() {
		n := len(z)
		want := true
		for _, v := range z {
			want = want && !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
		}
		assert.Equal(t, want, allFinite(z), "allFinite(%v)", z)
		assert.Equal(t, want, goAllFinite(z), "goAllFinite(%v)", z)

		s := append([]float32(nil), z...)
		softmax(s)
		for _, act := range []int{actNone, actGELU, actGELUTanh} {
			y := append([]float32(nil), z...)
			biasAct(y, z, 1, n, act)
		}
		if n >= 2 {
			dst := make([]float32, n)
			layerNormRows(dst, z, z, z, 1, n, 1e-5)
		}
		out, p := make([]float32, n), make([]float32, 1)
		attendOne(z, z, z, 1, n, 0.5, out, p)
	}
	s := []float32{1, nan, 2}
	softmax(s)
	assert.True(t, math.IsNaN(float64(s[0])), "a NaN score makes the softmax NaN, not a number")
}

// withWeight copies a fixture folder and sets one element of one F32
// tensor of its model.safetensors.
func withWeight(t *testing.T, fixture, tensor string, index int, v float32) string {
	t.Helper()
	src := filepath.Join(enginetest.TinyDir(), fixture)
	dir := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	return withWeightIn(t, dir, tensor, index, v)
}

// withWeightIn sets one element of one F32 tensor of dir's model.safetensors.
func withWeightIn(t *testing.T, dir, tensor string, index int, v float32) string {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	info, ok := f.Lookup(tensor)
	start := f.Header.DataStart
	f.Close()
	require.True(t, ok, tensor)
	require.Equal(t, safetensors.DType("F32"), info.DType)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(b[start+info.Begin+int64(4*index):], math.Float32bits(v))
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return dir
}

// A NaN, an infinity or an overflowing value in one weight (a diverged
// checkpoint) is refused at load with the tensor's name; allowed, the
// forward pass runs, its numbers are NaN where the value reaches them and
// NonFinite says where that first happened. This crashed the backend
// with SIGSEGV (issue 16).
func TestNonFiniteWeights(t *testing.T) {
	const name = "gpt_neox.layers.1.attention.dense.weight"
	ctx := context.Background()
	ids := [][]int32{{5, 17, 9, 33, 2, 7}, {8, 1}}
	seqs := []engine.Sequence{{Tokens: ids[0], ScoreFrom: 1}, {Tokens: ids[1], ScoreFrom: 1}}
	for _, c := range []struct {
		v    float32
		what string
	}{{nan, "1 NaN"}, {pInf, "1 +Inf"}, {nInf, "1 -Inf"}} {
		dir := withWeight(t, "gptneox-tiny", name, 0, c.v)
		_, err := Load(dir, Options{Threads: 2})
		var nfe *engine.NonFiniteWeightsError
		require.True(t, errors.As(err, &nfe), "%v", err)
		assert.Contains(t, err.Error(), name+" ("+c.what+" of 4096 values, the first at index 0)")

		m, err := Load(dir, Options{Threads: 2, AllowNonFiniteWeights: true})
		require.NoError(t, err)
		require.Len(t, m.NonFiniteWeights(), 1)
		assert.Equal(t, name, m.NonFiniteWeights()[0].Name)

		scores, err := m.Score(ctx, seqs, intervention.Baseline())
		require.NoError(t, err)
		for i, s := range scores {
			require.NotNil(t, s.NonFinite, "sequence %d", i)
			assert.Equal(t, engine.NonFinite{Block: 1, Part: engine.PartAttention, Position: 0}, *s.NonFinite)
			for _, lp := range s.LogProbs {
				assert.True(t, math.IsNaN(float64(lp)), "log-prob %v of a non-finite pass", lp)
			}
		}
		// Zero-ablating block 1's attention skips the bad weight.
		scores, err = m.Score(ctx, seqs, intervention.New(intervention.AttnZero, 1))
		require.NoError(t, err)
		for _, s := range scores {
			assert.Nil(t, s.NonFinite)
			for _, lp := range s.LogProbs {
				assert.False(t, math.IsNaN(float64(lp)) || math.IsInf(float64(lp), 0))
			}
		}
		gens, err := m.Generate(ctx, ids, 4, intervention.Baseline())
		require.NoError(t, err)
		for _, g := range gens {
			require.Len(t, g.IDs, 4)
			require.NotNil(t, g.NonFinite)
			assert.Equal(t, 1, g.NonFinite.Block)
			for _, e := range g.Entropies {
				assert.True(t, math.IsNaN(float64(e)))
			}
		}
		_, err = m.Logits(ctx, ids[:1], intervention.Baseline())
		require.NoError(t, err)
		m.Close()
	}
}

// A finite but huge weight (3e38) may overflow the pass or not (a layer
// norm brings huge finite values back); either way nothing crashes, and
// NonFinite is set exactly when a number went NaN or infinite.
func TestOverflowingWeight(t *testing.T) {
	const name = "gpt_neox.layers.1.attention.dense.weight"
	ctx := context.Background()
	for _, row := range []bool{false, true} {
		dir := withWeight(t, "gptneox-tiny", name, 0, 3e38)
		if row { // the whole first row: the attention output overflows
			for k := 1; k < 64; k++ {
				dir = withWeightIn(t, dir, name, k, 3e38)
			}
		}
		m, err := Load(dir, Options{Threads: 2})
		require.NoError(t, err, "3e38 is a number: the model loads")
		seqs := []engine.Sequence{{Tokens: []int32{5, 17, 9, 33, 2, 7}, ScoreFrom: 1}}
		scores, err := m.Score(ctx, seqs, intervention.Baseline())
		require.NoError(t, err)
		finite := true
		for _, lp := range scores[0].LogProbs {
			finite = finite && !math.IsNaN(float64(lp)) && !math.IsInf(float64(lp), 0)
		}
		assert.Equal(t, finite, scores[0].NonFinite == nil, "NonFinite %v, log-probs %v", scores[0].NonFinite, scores[0].LogProbs)
		if row {
			require.NotNil(t, scores[0].NonFinite)
			assert.Equal(t, 1, scores[0].NonFinite.Block)
		}
		gens, err := m.Generate(ctx, [][]int32{{5, 17}}, 3, intervention.Baseline())
		require.NoError(t, err)
		assert.Equal(t, row, gens[0].NonFinite != nil)
		m.Close()
	}
}

// Finite models report nothing.
func TestFiniteModelReportsNoNonFinite(t *testing.T) {
	m := loadTiny(t, "gptneo-tiny", Options{Threads: 2})
	scores, err := m.Score(context.Background(), []engine.Sequence{{Tokens: []int32{5, 17, 9, 33}, ScoreFrom: 1}}, intervention.Baseline())
	require.NoError(t, err)
	assert.Nil(t, scores[0].NonFinite)
	assert.Empty(t, m.NonFiniteWeights())
}
