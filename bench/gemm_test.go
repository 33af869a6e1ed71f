package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

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

// BenchmarkGEMMPythia160M times the engine's matrix products (gorgonia's
// tensor BLAS → OpenBLAS, split over the threads as the engine does) at a
// forward's row count (8×64 = 512) and a decode step's (8).
func BenchmarkGEMMPythia160M(b *testing.B) {
	b.Logf("BLAS: %s", cpu.BLASInfo())
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	threads := runtime.NumCPU()
	for _, m := range []int{512, 8} {
		for _, s := range gemmShapes {
			b.Run(fmt.Sprintf("M=%d/%s-%dx%d", m, s.name, s.k, s.n), func(b *testing.B) {
				x, w, y := fill(m*s.k), fill(s.n*s.k), make([]float32, m*s.n)
				for b.Loop() {
					cpu.MatMulT(m, s.n, s.k, x, w, y, threads)
				}
				b.ReportMetric(2*float64(m*s.k*s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// the weights streamed per second: what bounds a decode step
				b.ReportMetric(4*float64(s.k*s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "weight-GB/s")
			})
		}
	}
}
