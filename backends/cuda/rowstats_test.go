package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/engine"
)

// TestRowStatsPolicy: the row_stats kernel agrees with engine.RowStats,
// the numerics policy's definition, on ordinary rows and on rows with NaN,
// ±Inf, -3e38 and ties: numpy's argmax, log Z and entropy NaN or infinite
// exactly where the policy says, otherwise within float32 rounding.
func TestRowStatsPolicy(t *testing.T) {
	dev := testDevice(t)
	const V = 300
	rng := rand.New(rand.NewPCG(9, 10))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	var rows [][]float32
	row := func(edit func(z []float32)) {
		z := make([]float32, V)
		for i := range z {
			z[i] = float32(rng.NormFloat64() * 3)
		}
		edit(z)
		rows = append(rows, z)
	}
	row(func([]float32) {})
	row(func(z []float32) { z[7], z[200] = nan, nan })
	row(func(z []float32) { z[5], z[9] = 50, 50 }) // tie: the lower index
	row(func(z []float32) { z[40] = inf })
	row(func(z []float32) { z[40], z[41] = inf, nan })
	row(func(z []float32) {
		for i := range z {
			z[i] = -inf
		}
	})
	row(func(z []float32) { z[0], z[1], z[2] = -inf, -3e38, -inf })
	row(func(z []float32) {
		for i := range z {
			z[i] = 3e38
		}
	})
	flat := make([]float32, 0, len(rows)*V)
	for _, z := range rows {
		flat = append(flat, z...)
	}
	targets := make([]int32, len(rows))
	for i := range targets {
		targets[i] = int32(i * 11)
	}
	n := len(rows)
	zp, err := dev.Alloc(int64(4 * len(flat)))
	require.NoError(t, err)
	require.NoError(t, dev.Upload(zp, f32Bytes(flat)))
	tp, err := dev.Alloc(int64(4 * n))
	require.NoError(t, err)
	require.NoError(t, dev.Upload(tp, i32Bytes(targets)))
	sp, err := dev.Alloc(int64(12 * n))
	require.NoError(t, err)
	ap, err := dev.Alloc(int64(4 * n))
	require.NoError(t, err)
	require.NoError(t, dev.Launch("row_stats", gpu.Grid1(n), gpu.Grid1(256), 0, zp, int32(V), tp, sp, ap))
	sb := make([]byte, 12*n)
	require.NoError(t, dev.Download(sb, sp))
	ab := make([]byte, 4*n)
	require.NoError(t, dev.Download(ab, ap))
	stats := bytesF32(sb)
	for r, z := range rows {
		am, logZ, ent := engine.RowStats(z)
		gotAm := int(int32(uint32(ab[4*r]) | uint32(ab[4*r+1])<<8 | uint32(ab[4*r+2])<<16 | uint32(ab[4*r+3])<<24))
		assert.Equal(t, am, gotAm, "row %d argmax", r)
		same := func(what string, want float64, got float32) {
			switch {
			case math.IsNaN(want):
				assert.True(t, math.IsNaN(float64(got)), "row %d %s: %v, want NaN", r, what, got)
			case math.IsInf(want, 0):
				assert.Equal(t, want, float64(got), "row %d %s", r, what)
			default:
				assert.InDelta(t, want, float64(got), 1e-5+1e-6*math.Abs(want), "row %d %s", r, what)
			}
		}
		same("log Z", logZ, stats[3*r])
		same("entropy", ent, stats[3*r+1])
		assert.Equal(t, math.Float32bits(z[targets[r]]), math.Float32bits(stats[3*r+2]), "row %d target logit", r)
	}
}
