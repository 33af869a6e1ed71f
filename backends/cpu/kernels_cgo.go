//go:build cgo

package cpu

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include <stdint.h>
#include <string.h>
#include <math.h>

// Element-wise kernels, written so that GCC vectorizes them: branch-free
// polynomial approximations (the same ones as the Go versions in
// kernels_go.go, which the tests compare against) and fixed 8-lane
// accumulators for sums. Each is compiled twice: for AVX2+FMA and for the
// x86-64 baseline; Go picks one at start.

// Without trapping math GCC may if-convert the clamps and selects below,
// which vectorization needs; nothing here inspects FP exception flags.
#pragma GCC optimize ("no-trapping-math")

#define ALWAYS static inline __attribute__((always_inline))

ALWAYS float ms_expf(float x) {
	x = x < -87.0f ? -87.0f : x;
	x = x > 88.0f ? 88.0f : x;
	float z = x * 1.44269504088896341f + 12582912.0f;
	z -= 12582912.0f;
	float r = x - z * 0.693359375f;
	r = r - z * -2.12194440e-4f;
	float rr = r * r;
	float p = ((((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
		4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * rr + r) + 1.0f;
	int32_t e = ((int32_t)z + 127) << 23;
	float s;
	memcpy(&s, &e, 4);
	return p * s;
}

// gelu (erf): Abramowitz & Stegun 7.1.26 for erf, |error| <= 1.5e-7.
ALWAYS float ms_gelu_erf(float x) {
	float u = x * 0.70710678118654752f;
	float au = fabsf(u);
	au = au > 6.0f ? 6.0f : au;
	float t = 1.0f / (1.0f + 0.3275911f * au);
	float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
	float erf = 1.0f - poly * ms_expf(-au * au);
	erf = copysignf(erf, u);
	return 0.5f * x * (1.0f + erf);
}

// gelu_new (tanh form): tanh|y| = 1 - 2/(e^{2|y|}+1).
ALWAYS float ms_gelu_tanh(float x) {
	float y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
	float ay = fabsf(y);
	ay = ay > 10.0f ? 10.0f : ay;
	float th = 1.0f - 2.0f / (ms_expf(2.0f * ay) + 1.0f);
	th = copysignf(th, y);
	return 0.5f * x * (1.0f + th);
}

ALWAYS void body_bias_act(float *y, const float *b, long rows, long n, int act) {
	for (long r = 0; r < rows; r++) {
		float *row = y + r * n;
		if (b) {
			for (long j = 0; j < n; j++) row[j] += b[j];
		}
		if (act == 1) {
			for (long j = 0; j < n; j++) row[j] = ms_gelu_erf(row[j]);
		} else if (act == 2) {
			for (long j = 0; j < n; j++) row[j] = ms_gelu_tanh(row[j]);
		}
	}
}

ALWAYS float body_max(const float *x, long n) {
	float m[8];
	long i = 0;
	for (int j = 0; j < 8; j++) m[j] = x[0];
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
	float mm = m[0];
	for (int j = 1; j < 8; j++) mm = m[j] > mm ? m[j] : mm;
	for (; i < n; i++) mm = x[i] > mm ? x[i] : mm;
	return mm;
}

// softmax in place, max subtracted; the sum runs in 8 double lanes.
ALWAYS void body_softmax(float *x, long n) {
	float m = body_max(x, n);
	double acc[8] = {0};
	long i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) {
			float e = ms_expf(x[i + j] - m);
			x[i + j] = e;
			acc[j] += e;
		}
	double s = 0;
	for (int j = 0; j < 8; j++) s += acc[j];
	for (; i < n; i++) {
		float e = ms_expf(x[i] - m);
		x[i] = e;
		s += e;
	}
	float inv = (float)(1.0 / s);
	for (i = 0; i < n; i++) x[i] *= inv;
}

// row statistics of logits: lowest argmax, log Z and entropy (nats).
// Sums of e_i and e_i*(z_i - max) use double lanes. Returns 0, leaving
// the outputs alone, when the row holds NaN or ±Inf (or values whose
// differences overflow): Go then computes the row by the engine's
// reference definition (engine.RowStats). A NaN or an infinity anywhere
// makes the sums non-finite, so the check costs nothing per element.
ALWAYS int body_row_stats(const float *z, long n, long *argmax, double *logZ, double *entropy) {
	float m = body_max(z, n);
	double s8[8] = {0}, t8[8] = {0};
	long i = 0;
	// ms_expf clamps at e^-87: below that a term is 0 here, or e·d would
	// weigh in for logits far below the maximum (d = -3e38: e·d = -5).
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) {
			float d = z[i + j] - m;
			float e = d < -87.0f ? 0.0f : ms_expf(d);
			s8[j] += (double)e;
			t8[j] += (double)(e * d);
		}
	double s = 0, t = 0;
	for (int j = 0; j < 8; j++) { s += s8[j]; t += t8[j]; }
	for (; i < n; i++) {
		float d = z[i] - m;
		float e = d < -87.0f ? 0.0f : ms_expf(d);
		s += e;
		t += (double)(e * d);
	}
	double ls = log(s);
	double lz = (double)m + ls, ent = ls - t / s;
	if (!isfinite(lz) || !isfinite(ent)) return 0;
	long am = 0;
	while (am < n - 1 && z[am] != m) am++;
	*argmax = am;
	*logZ = lz;
	*entropy = ent;
	return 1;
}

// all_finite reports whether x holds no NaN and no infinity: x*0 is 0
// for finite x and NaN otherwise (the compiler may not fold it without
// -ffast-math).
ALWAYS int body_all_finite(const float *x, long n) {
	float acc[8] = {0};
	long i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) acc[j] += x[i + j] * 0.0f;
	float s = 0;
	for (int j = 0; j < 8; j++) s += acc[j];
	for (; i < n; i++) s += x[i] * 0.0f;
	return s == 0.0f;
}

// layer norm of rows: biased variance, double sums over 8 lanes.
ALWAYS void body_layernorm(float *dst, const float *x, const float *w, const float *b, long rows, long d, double eps) {
	for (long r = 0; r < rows; r++) {
		const float *xr = x + r * d;
		float *dr = dst + r * d;
		double a8[8] = {0};
		long i = 0;
		for (; i + 8 <= d; i += 8)
			for (int j = 0; j < 8; j++) a8[j] += xr[i + j];
		double sum = 0;
		for (int j = 0; j < 8; j++) sum += a8[j];
		for (; i < d; i++) sum += xr[i];
		double mean = sum / d;
		double q8[8] = {0};
		for (i = 0; i + 8 <= d; i += 8)
			for (int j = 0; j < 8; j++) { double t = xr[i + j] - mean; q8[j] += t * t; }
		double sq = 0;
		for (int j = 0; j < 8; j++) sq += q8[j];
		for (; i < d; i++) { double t = xr[i] - mean; sq += t * t; }
		float m32 = (float)mean, r32 = (float)(1.0 / sqrt(sq / d + eps));
		for (i = 0; i < d; i++) dr[i] = (xr[i] - m32) * r32 * w[i] + b[i];
	}
}

ALWAYS float body_dot(const float *a, const float *b, long n) {
	float acc[8] = {0};
	long i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
	float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
	for (; i < n; i++) s += a[i] * b[i];
	return s;
}

// attention of one query over keys [0, n) of K and V ([n, hd] each):
// out = softmax(scale * K q) V; p is scratch for n scores.
ALWAYS void body_attend1(const float *q, const float *K, const float *V, long n, long hd, float scale, float *out, float *p) {
	for (long j = 0; j < n; j++) p[j] = scale * body_dot(q, K + j * hd, hd);
	body_softmax(p, n);
	for (long d = 0; d < hd; d++) out[d] = 0;
	for (long j = 0; j < n; j++) {
		const float *v = V + j * hd;
		float pj = p[j];
		for (long d = 0; d < hd; d++) out[d] += pj * v[d];
	}
}

#ifdef __x86_64__
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

// c[m][n] = sum_k x[m][k] * w[n][k] for a few rows of x (decode steps):
// the weights stream from memory once, two rows at a time, against up to
// four rows of x held in cache; no packing (which costs OpenBLAS an extra
// pass over the weights at small M). Prefetching 8 KB ahead took a
// Pythia-160M decode step from 28 to 18 ms on 2 Zen 5 cores.
__attribute__((target("avx2,fma"))) void ms_gemv_nt(long M, long N, long K, const float *x, const float *w, float *c, long ldc) {
	long K8 = K & ~7L;
	for (long n = 0; n < N; n += 2) {
		const float *w0 = w + n * K;
		const float *w1 = n + 1 < N ? w0 + K : w0;
		for (long m0 = 0; m0 < M; m0 += 4) {
			long mb = M - m0 < 4 ? M - m0 : 4;
			const float *x0 = x + m0 * K;
			const float *x1 = mb > 1 ? x0 + K : x0;
			const float *x2 = mb > 2 ? x0 + 2 * K : x0;
			const float *x3 = mb > 3 ? x0 + 3 * K : x0;
			__m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
			for (long k = 0; k < K8; k += 8) {
				_mm_prefetch((const char *)(w0 + k + 2048), _MM_HINT_T0);
				_mm_prefetch((const char *)(w1 + k + 2048), _MM_HINT_T0);
				__m256 v0 = _mm256_loadu_ps(w0 + k), v1 = _mm256_loadu_ps(w1 + k);
				__m256 y = _mm256_loadu_ps(x0 + k);
				a00 = _mm256_fmadd_ps(y, v0, a00); a01 = _mm256_fmadd_ps(y, v1, a01);
				y = _mm256_loadu_ps(x1 + k);
				a10 = _mm256_fmadd_ps(y, v0, a10); a11 = _mm256_fmadd_ps(y, v1, a11);
				y = _mm256_loadu_ps(x2 + k);
				a20 = _mm256_fmadd_ps(y, v0, a20); a21 = _mm256_fmadd_ps(y, v1, a21);
				y = _mm256_loadu_ps(x3 + k);
				a30 = _mm256_fmadd_ps(y, v0, a30); a31 = _mm256_fmadd_ps(y, v1, a31);
			}
			float r[4][2] = {
				{hsum256(a00), hsum256(a01)}, {hsum256(a10), hsum256(a11)},
				{hsum256(a20), hsum256(a21)}, {hsum256(a30), hsum256(a31)},
			};
			const float *xs[4] = {x0, x1, x2, x3};
			for (long k = K8; k < K; k++)
				for (int j = 0; j < 4; j++) { r[j][0] += xs[j][k] * w0[k]; r[j][1] += xs[j][k] * w1[k]; }
			for (long j = 0; j < mb; j++) {
				c[(m0 + j) * ldc + n] = r[j][0];
				if (n + 1 < N) c[(m0 + j) * ldc + n + 1] = r[j][1];
			}
		}
	}
}
#else
void ms_gemv_nt(long M, long N, long K, const float *x, const float *w, float *c, long ldc) {}
#endif

#define VARIANT(SUF, ATTR) \
ATTR void ms_bias_act_##SUF(float *y, const float *b, long rows, long n, int act) { body_bias_act(y, b, rows, n, act); } \
ATTR void ms_softmax_##SUF(float *x, long n) { body_softmax(x, n); } \
ATTR void ms_attend1_##SUF(const float *q, const float *K, const float *V, long n, long hd, float scale, float *out, float *p) { body_attend1(q, K, V, n, hd, scale, out, p); } \
ATTR int ms_row_stats_##SUF(const float *z, long n, long *am, double *lz, double *ent) { return body_row_stats(z, n, am, lz, ent); } \
ATTR int ms_all_finite_##SUF(const float *x, long n) { return body_all_finite(x, n); } \
ATTR void ms_layernorm_##SUF(float *dst, const float *x, const float *w, const float *b, long rows, long d, double eps) { body_layernorm(dst, x, w, b, rows, d, eps); }

VARIANT(avx2, __attribute__((target("avx2,fma"))))
VARIANT(base, )
*/
import "C"

import (
	"unsafe"

	"github.com/klauspost/cpuid/v2"

	"github.com/memscope/memscope/backends/engine"
)

var useAVX2 = cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3)

func fptr(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

// biasAct adds b (may be nil) to each of rows rows of y ([rows, n]) and
// applies the activation (actNone, actGELU, actGELUTanh).
func biasAct(y, b []float32, rows, n int, act int) {
	if rows == 0 || n == 0 {
		return
	}
	_ = y[rows*n-1]
	var bp *C.float
	if b != nil {
		_ = b[n-1]
		bp = fptr(b)
	}
	if useAVX2 {
		C.ms_bias_act_avx2(fptr(y), bp, C.long(rows), C.long(n), C.int(act))
	} else {
		C.ms_bias_act_base(fptr(y), bp, C.long(rows), C.long(n), C.int(act))
	}
}

// softmax turns a row of scores into probabilities in place.
func softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	if useAVX2 {
		C.ms_softmax_avx2(fptr(x), C.long(len(x)))
	} else {
		C.ms_softmax_base(fptr(x), C.long(len(x)))
	}
}

// logitStats is rowStats (lowest argmax, log Z, entropy) of a logits row;
// a row holding NaN or ±Inf gets the engine's reference definition.
func logitStats(z []float32) (argmax int, logZ, entropy float64) {
	if len(z) == 0 {
		return engine.RowStats(z)
	}
	var am C.long
	var lz, ent C.double
	var ok C.int
	if useAVX2 {
		ok = C.ms_row_stats_avx2(fptr(z), C.long(len(z)), &am, &lz, &ent)
	} else {
		ok = C.ms_row_stats_base(fptr(z), C.long(len(z)), &am, &lz, &ent)
	}
	if ok == 0 {
		return engine.RowStats(z)
	}
	return int(am), float64(lz), float64(ent)
}

// allFinite reports whether x holds no NaN and no infinity.
func allFinite(x []float32) bool {
	if len(x) == 0 {
		return true
	}
	if useAVX2 {
		return C.ms_all_finite_avx2(fptr(x), C.long(len(x))) != 0
	}
	return C.ms_all_finite_base(fptr(x), C.long(len(x))) != 0
}

// layerNormRows normalizes rows rows of x ([rows, d]) into dst.
func layerNormRows(dst, x, w, b []float32, rows, d int, eps float64) {
	if rows == 0 {
		return
	}
	_, _ = dst[rows*d-1], x[rows*d-1]
	_, _ = w[d-1], b[d-1]
	if useAVX2 {
		C.ms_layernorm_avx2(fptr(dst), fptr(x), fptr(w), fptr(b), C.long(rows), C.long(d), C.double(eps))
	} else {
		C.ms_layernorm_base(fptr(dst), fptr(x), fptr(w), fptr(b), C.long(rows), C.long(d), C.double(eps))
	}
}

// attendOne computes one query's attention over n keys: out =
// softmax(scale·K·q)·V, with K and V [n, hd]; p is scratch of n floats.
func attendOne(q, K, V []float32, n, hd int, scale float32, out, p []float32) {
	if n == 0 {
		return
	}
	_, _, _ = q[hd-1], K[n*hd-1], V[n*hd-1]
	_, _ = out[hd-1], p[n-1]
	if useAVX2 {
		C.ms_attend1_avx2(fptr(q), fptr(K), fptr(V), C.long(n), C.long(hd), C.float(scale), fptr(out), fptr(p))
	} else {
		C.ms_attend1_base(fptr(q), fptr(K), fptr(V), C.long(n), C.long(hd), C.float(scale), fptr(out), fptr(p))
	}
}

// gemvRows is the most rows of x for which matmulT uses gemvNT instead of
// OpenBLAS (AVX2 CPUs only).
const gemvRows = 8

// gemvNT computes c[m][n] = Σ_k x[m][k]·w[n][k] for M ≤ gemvRows rows with
// the AVX2 kernel; it reports false (doing nothing) without AVX2.
func gemvNT(M, N, K int, x, w, c []float32, ldc int) bool {
	if !useAVX2 || M > gemvRows || M == 0 || N == 0 || K == 0 {
		return false
	}
	_, _ = x[(M-1)*K+K-1], w[(N-1)*K+K-1]
	_ = c[(M-1)*ldc+N-1]
	C.ms_gemv_nt(C.long(M), C.long(N), C.long(K), fptr(x), fptr(w), fptr(c), C.long(ldc))
	return true
}
