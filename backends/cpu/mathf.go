package cpu

import (
	"math"

	"github.com/memscope/memscope/backends/engine"
)

// Element-wise float32 functions for the hot loops. Go's math package works
// in float64 and costs 5–10 ns a call; these cost about 1 ns and are
// accurate to a few float32 ulps (tests bound the error against math).

// expf is e^x in float32 (Cephes expf: range reduction by ln 2 and a
// degree-6 polynomial; relative error below 2e-7).
func expf(x float32) float32 {
	if x < -87 || x > 88 {
		return float32(math.Exp(float64(x)))
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
		round = 12582912 // 1.5 × 2^23: adding it rounds to an integer
	)
	z := x*log2e + round
	z -= round
	r := x - z*c1
	r -= z * c2
	rr := r * r
	p := ((((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+
		4.1665795894e-2)*r+1.6666665459e-1)*r+5.0000001201e-1)*rr + r) + 1
	n := int32(z)
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// geluErf is HF's "gelu": x·Φ(x) = 0.5·x·(1 + erf(x/√2)), with erf from
// Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7).
func geluErf(x float32) float32 {
	const (
		invSqrt2 = 0.70710678118654752440
		p        = 0.3275911
		a1       = 0.254829592
		a2       = -0.284496736
		a3       = 1.421413741
		a4       = -1.453152027
		a5       = 1.061405429
	)
	u := float64(x) * invSqrt2
	au := math.Abs(u)
	if au > 6 { // erf(6) = 1 - 2e-17
		if x > 0 {
			return x
		}
		return 0
	}
	t := 1 / (1 + p*au)
	poly := ((((a5*t+a4)*t+a3)*t+a2)*t + a1) * t
	erf := 1 - poly*float64(expf(float32(-au*au)))
	if u < 0 {
		erf = -erf
	}
	return float32(0.5 * float64(x) * (1 + erf))
}

// geluTanh is HF's "gelu_new" (GPT-2/GPT-Neo):
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluTanh(x float32) float32 {
	const c = 0.7978845608028654 // √(2/π)
	y := c * (float64(x) + 0.044715*float64(x)*float64(x)*float64(x))
	ay := math.Abs(y)
	var th float64
	if ay > 10 {
		th = 1
	} else {
		// tanh|y| = 1 − 2/(e^{2|y|}+1): no overflow, and the absolute error
		// (what 1+tanh needs) stays at float32 rounding.
		th = 1 - 2/(float64(expf(float32(2*ay)))+1)
	}
	if y < 0 {
		th = -th
	}
	return float32(0.5 * float64(x) * (1 + th))
}

// layerNormRow writes (x − mean)/√(var + eps)·w + b for one row, with the
// biased variance (as torch.nn.LayerNorm). Sums run in float64.
func layerNormRow(dst, x, w, b []float32, eps float64) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var sq float64
	for _, v := range x {
		d := float64(v) - mean
		sq += d * d
	}
	rstd := 1 / math.Sqrt(sq/float64(len(x))+eps)
	m32, r32 := float32(mean), float32(rstd)
	w = w[:len(x)]
	b = b[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = (v-m32)*r32*w[i] + b[i]
	}
}

// softmaxRow turns scores into probabilities in place (max subtracted first).
func softmaxRow(s []float32) {
	m := s[0]
	for _, v := range s[1:] {
		if v > m {
			m = v
		}
	}
	var sum float64
	for i, v := range s {
		e := expf(v - m)
		s[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range s {
		s[i] *= inv
	}
}

// rowStats summarizes one row of logits: the lowest index of the maximum,
// log Z (log-sum-exp) and the entropy in nats of softmax(z), computed
// stably: with e_i = exp(z_i − max) and s = Σ e_i,
// H = log s − Σ e_i (z_i − max) / s. A row holding NaN or ±Inf (which make
// the sums non-finite) gets the engine's reference definition
// (engine.RowStats: numpy's argmax, NaN where the distribution is
// undefined).
func rowStats(z []float32) (argmax int, logZ, entropy float64) {
	if len(z) == 0 {
		return engine.RowStats(z)
	}
	m := z[0]
	for i, v := range z[1:] {
		if v > m {
			m = v
			argmax = i + 1
		}
	}
	var s, t float64
	for _, v := range z {
		d := v - m
		e := float64(expf(d))
		s += e
		t += e * float64(d)
	}
	ls := math.Log(s)
	logZ, entropy = float64(m)+ls, ls-t/s
	if math.IsNaN(logZ-logZ) || math.IsNaN(entropy-entropy) {
		return engine.RowStats(z)
	}
	return argmax, logZ, entropy
}

// goAllFinite reports whether x holds no NaN and no infinity (x·0 is 0
// only for finite x).
func goAllFinite(x []float32) bool {
	var s float32
	for _, v := range x {
		s += v * 0
	}
	return s == 0
}

// Activations of biasAct.
const (
	actNone     = 0
	actGELU     = 1 // exact (erf) GELU, HF "gelu"
	actGELUTanh = 2 // tanh approximation, HF "gelu_new"
)

// goBiasAct is the pure-Go biasAct: y[r] = act(y[r] + b) for each row.
func goBiasAct(y, b []float32, rows, n int, act int) {
	for r := 0; r < rows; r++ {
		row := y[r*n : (r+1)*n]
		if b != nil {
			for j, v := range b[:n] {
				row[j] += v
			}
		}
		switch act {
		case actGELU:
			for j, v := range row {
				row[j] = geluErf(v)
			}
		case actGELUTanh:
			for j, v := range row {
				row[j] = geluTanh(v)
			}
		}
	}
}

// goAttendOne is the pure-Go attendOne: one query's attention over n keys.
func goAttendOne(q, K, V []float32, n, hd int, scale float32, out, p []float32) {
	q = q[:hd]
	for j := 0; j < n; j++ {
		k := K[j*hd : (j+1)*hd]
		var s float32
		for d, v := range q {
			s += v * k[d]
		}
		p[j] = scale * s
	}
	softmaxRow(p[:n])
	out = out[:hd]
	clear(out)
	for j := 0; j < n; j++ {
		v := V[j*hd : (j+1)*hd]
		pj := p[j]
		for d := range out {
			out[d] += pj * v[d]
		}
	}
}
