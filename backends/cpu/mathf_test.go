package cpu

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := -100.0; x <= 88; x += 0.001 {
		xf := float32(x)
		want := math.Exp(float64(xf))
		got := float64(expf(xf))
		if want < 1e-37 {
			assert.InDelta(t, want, got, 1e-37)
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	t.Logf("expf max relative error %.3g", worst)
	assert.Less(t, worst, 3e-7)
	assert.Equal(t, float32(1), expf(0))
}

func TestGelu(t *testing.T) {
	worstErf, worstTanh := 0.0, 0.0
	for x := -12.0; x <= 12; x += 0.0005 {
		xf := float64(float32(x))
		exact := 0.5 * xf * (1 + math.Erf(xf/math.Sqrt2))
		tanhRef := 0.5 * xf * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(xf+0.044715*xf*xf*xf)))
		// error relative to max(1, |x|): absolute near 0, relative for large |x|
		scale := max(1, math.Abs(xf))
		worstErf = max(worstErf, math.Abs(float64(geluErf(float32(xf)))-exact)/scale)
		worstTanh = max(worstTanh, math.Abs(float64(geluTanh(float32(xf)))-tanhRef)/scale)
	}
	t.Logf("gelu (erf) max error %.3g, gelu_new (tanh) max error %.3g (relative to max(1,|x|))", worstErf, worstTanh)
	assert.Less(t, worstErf, 3e-7)
	assert.Less(t, worstTanh, 3e-7)
	assert.Equal(t, float32(0), geluErf(0))
	assert.Equal(t, float32(0), geluTanh(0))
}

func TestRowStats(t *testing.T) {
	z := []float32{1, 3, -2, 3, 0.5}
	am, lz, h := rowStats(z)
	assert.Equal(t, 1, am, "ties go to the lowest id")
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v))
	}
	assert.InDelta(t, math.Log(s), lz, 1e-6)
	var ent float64
	for _, v := range z {
		p := math.Exp(float64(v)) / s
		ent -= p * math.Log(p)
	}
	assert.InDelta(t, ent, h, 1e-6)

	// huge logits stay finite
	am, lz, h = rowStats([]float32{1e30, -1e30, 1e30})
	assert.Equal(t, 0, am)
	assert.InDelta(t, 1e30, lz, 1e24)
	assert.InDelta(t, math.Log(2), h, 1e-6)
}

func TestLayerNormRow(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	w := []float32{1, 2, 1, 1}
	b := []float32{0, 0, 1, 0}
	dst := make([]float32, 4)
	layerNormRow(dst, x, w, b, 1e-5)
	mean, v := 2.5, 1.25 // biased variance
	for i := range x {
		want := (float64(x[i])-mean)/math.Sqrt(v+1e-5)*float64(w[i]) + float64(b[i])
		assert.InDelta(t, want, dst[i], 1e-6)
	}
}
