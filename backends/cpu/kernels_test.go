package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The build's element-wise kernels (vectorized C with cgo, Go without)
// agree with the pure-Go reference versions.
func TestKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, variant := range []bool{true, false} {
		saved := useAVX2
		if variant && !saved {
			continue // the CPU has no AVX2
		}
		useAVX2 = variant
		for _, n := range []int{1, 7, 8, 9, 64, 1000, 50304} {
			x := make([]float32, 3*n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 4)
			}
			b := make([]float32, n)
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			for _, act := range []int{actNone, actGELU, actGELUTanh} {
				got := append([]float32(nil), x...)
				want := append([]float32(nil), x...)
				biasAct(got, b, 3, n, act)
				goBiasAct(want, b, 3, n, act)
				for i := range got {
					assert.InDelta(t, want[i], got[i], 4e-7*max(1, math.Abs(float64(want[i]))), "act %d n %d", act, n)
				}
			}
			got := append([]float32(nil), x[:n]...)
			want := append([]float32(nil), x[:n]...)
			softmax(got)
			softmaxRow(want)
			for i := range got {
				assert.InDelta(t, want[i], got[i], 1e-6*max(1e-3, float64(want[i])), "softmax n %d i %d avx2 %v", n, i, useAVX2)
			}
			am1, lz1, e1 := logitStats(x[:n])
			am2, lz2, e2 := rowStats(x[:n])
			assert.Equal(t, am2, am1)
			assert.InDelta(t, lz2, lz1, 1e-6*max(1, math.Abs(lz2)))
			assert.InDelta(t, e2, e1, 1e-6*max(1, e2))
			if n >= 2 {
				w := b
				ln1 := make([]float32, 3*n)
				ln2 := make([]float32, 3*n)
				layerNormRows(ln1, x, w, b, 3, n, 1e-5)
				for r := 0; r < 3; r++ {
					layerNormRow(ln2[r*n:(r+1)*n], x[r*n:(r+1)*n], w, b, 1e-5)
				}
				for i := range ln1 {
					assert.InDelta(t, ln2[i], ln1[i], 2e-6*max(1, math.Abs(float64(ln2[i]))))
				}
			}
		}
		for _, hd := range []int{5, 32, 64, 80} {
			for _, n := range []int{1, 9, 100} {
				q := make([]float32, hd)
				K := make([]float32, n*hd)
				V := make([]float32, n*hd)
				for _, xs := range [][]float32{q, K, V} {
					for i := range xs {
						xs[i] = float32(rng.NormFloat64())
					}
				}
				got, want := make([]float32, hd), make([]float32, hd)
				attendOne(q, K, V, n, hd, 0.125, got, make([]float32, n))
				goAttendOne(q, K, V, n, hd, 0.125, want, make([]float32, n))
				for i := range got {
					assert.InDelta(t, want[i], got[i], 2e-6, "attendOne hd %d n %d", hd, n)
				}
			}
		}
		useAVX2 = saved
	}
	// argmax ties go to the lowest index
	am, _, _ := logitStats([]float32{0, 5, 1, 5, 5, 2, 3, 4, 5, 0})
	assert.Equal(t, 1, am)
}

// The decode-step product (AVX2 kernel when available) agrees with a
// float64 reference for every row count it takes and odd shapes.
func TestGemvNT(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for M := 1; M <= gemvRows; M++ {
		for _, shape := range [][2]int{{1, 1}, {7, 13}, {33, 64}, {64, 100}, {5, 771}} {
			N, K := shape[0], shape[1]
			x := make([]float32, M*K)
			w := make([]float32, N*K)
			for _, s := range [][]float32{x, w} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			ldc := N + 3
			c := make([]float32, M*ldc)
			for i := range c {
				c[i] = -7 // untouched outside [M, N]
			}
			if !gemvNT(M, N, K, x, w, c, ldc) {
				t.Skip("no AVX2 kernel on this build/CPU")
			}
			for m := 0; m < M; m++ {
				for n := 0; n < ldc; n++ {
					if n >= N {
						assert.Equal(t, float32(-7), c[m*ldc+n])
						continue
					}
					var ref float64
					for k := 0; k < K; k++ {
						ref += float64(x[m*K+k]) * float64(w[n*K+k])
					}
					assert.InDelta(t, ref, c[m*ldc+n], 1e-5*math.Sqrt(float64(K)), "M %d N %d K %d at %d,%d", M, N, K, m, n)
				}
			}
		}
	}
}
