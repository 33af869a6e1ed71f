package cpu

import "testing"

func benchElementwise(b *testing.B, f func(float32) float32) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(i%2000)/200 - 5
	}
	for b.Loop() {
		for i, v := range x {
			x[i] = f(v) - v + v*0.999
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
}

func BenchmarkGeluErf(b *testing.B)  { benchElementwise(b, geluErf) }
func BenchmarkGeluTanh(b *testing.B) { benchElementwise(b, geluTanh) }
func BenchmarkExpf(b *testing.B) {
	benchElementwise(b, func(x float32) float32 { return expf(-x * x) })
}

func BenchmarkBiasGeluKernel(b *testing.B) {
	const rows, n = 64, 3072
	y := make([]float32, rows*n)
	bias := make([]float32, n)
	for i := range y {
		y[i] = float32(i%2000)/200 - 5
	}
	for b.Loop() {
		biasAct(y, bias, rows, n, actGELU)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(y)), "ns/elem")
}

func BenchmarkLogitStatsKernel(b *testing.B) {
	z := make([]float32, 50304)
	for i := range z {
		z[i] = float32(i%2000)/200 - 5
	}
	for b.Loop() {
		logitStats(z)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(z)), "ns/elem")
}
