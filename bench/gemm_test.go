package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/memscope/memscope/backends/cpu"
)

// gemmShapes are Pythia-160M's matrix products: x[M,K] · Wᵀ with W
// stored [N,K] (the nn.Linear layout the engine keeps).
var gemmShapes = []struct {
	name string
	k, n int
}{
	{"qkv", 768, 2304},
	{"dense", 768, 768},
	{"mlp-up", 768, 3072},
	{"mlp-down", 3072, 768},
	{"unembed", 768, 50304},
}

// BenchmarkGEMMPythia160M times the engine's matrix products at a
// forward's row count (8×64 = 512) and a decode step's (8), through the
// same BLAS the engine uses (gorgonia's tensor BLAS → OpenBLAS).
func BenchmarkGEMMPythia160M(b *testing.B) {
	cpu.BLASInfo() // selects the kernels as Load does
	impl := tensor.WhichBLAS()
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	for _, layout := range []string{"NT", "NN"} {
		for _, m := range []int{512, 8} {
			for _, s := range gemmShapes {
				b.Run(fmt.Sprintf("%s/M=%d/%s-%dx%d", layout, m, s.name, s.k, s.n), func(b *testing.B) {
					x, w, y := fill(m*s.k), fill(s.n*s.k), make([]float32, m*s.n)
					b.ResetTimer()
					for b.Loop() {
						if layout == "NT" {
							impl.Sgemm(blas.NoTrans, blas.Trans, m, s.n, s.k, 1, x, s.k, w, s.k, 0, y, s.n)
						} else {
							impl.Sgemm(blas.NoTrans, blas.NoTrans, m, s.n, s.k, 1, x, s.k, w, s.n, 0, y, s.n)
						}
					}
					b.ReportMetric(2*float64(m*s.k*s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
