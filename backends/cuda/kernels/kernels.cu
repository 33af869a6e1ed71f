// memscope's CUDA kernels: everything of a GPT-NeoX / GPT-Neo forward pass
// that is not a matrix product (those go to cuBLAS). One source, two
// compilers: NVRTC compiles it for the GPU at load (backends/cuda/driver),
// and the CPU emulator (backends/cuda/emu) compiles it with g++ through a
// shim header, so CI runs these very kernels without a GPU. Keep to the
// subset the shim implements: threadIdx/blockIdx/blockDim/gridDim (.x, .y),
// __syncthreads, __syncwarp, __shfl_xor_sync, static __shared__ arrays,
// DYN_SHARED for dynamic shared memory, and float math (expf, logf, erff,
// tanhf, sqrtf, fmaxf).
//
// Conventions: the residual stream and every matrix-product output are
// float32; weights and matrix-product inputs are of the model's compute
// type T (float, f16 or bf16), converted to float32 on load and rounded to
// nearest even on store. Kernels come in one instance per T, suffixed
// _f32, _f16, _bf16. Row-major throughout.

#ifdef __CUDACC_RTC__
#define KERNEL extern "C" __global__
#define DEVICE static __device__ __forceinline__
#define DYN_SHARED(T, name) extern __shared__ T name[]
#define REGISTER(name)
#define MS_INF __int_as_float(0x7f800000)
#else
#include "emu_shim.h"
#endif

// ------------------------------------------------------------ number types

// f16 and bf16 are stored as their bit patterns; conversions are done in
// integer arithmetic so that the GPU and the emulator round identically
// (and no CUDA header is needed at run time).
struct f16 {
	unsigned short bits;
};
struct bf16 {
	unsigned short bits;
};

DEVICE float u32_as_f32(unsigned int u) {
	union {
		unsigned int u;
		float f;
	} c;
	c.u = u;
	return c.f;
}
DEVICE unsigned int f32_as_u32(float f) {
	union {
		unsigned int u;
		float f;
	} c;
	c.f = f;
	return c.u;
}

DEVICE float to_f32(float x) { return x; }
DEVICE float to_f32(bf16 x) { return u32_as_f32((unsigned int)x.bits << 16); }
DEVICE float to_f32(f16 x) {
	unsigned int h = x.bits;
	unsigned int sign = (h & 0x8000u) << 16;
	unsigned int exp = (h >> 10) & 0x1fu;
	unsigned int man = h & 0x3ffu;
	if (exp == 0x1fu) { // inf / nan
		return u32_as_f32(sign | 0x7f800000u | (man << 13));
	}
	if (exp == 0) {
		if (man == 0) return u32_as_f32(sign);
		// subnormal: man · 2^-24
		float v = (float)man * 5.9604644775390625e-8f;
		return sign ? -v : v;
	}
	return u32_as_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

DEVICE void store(float* p, float v) { *p = v; }
DEVICE void store(bf16* p, float v) {
	unsigned int u = f32_as_u32(v);
	if ((u & 0x7fffffffu) > 0x7f800000u) { // nan: keep it a quiet nan
		p->bits = (unsigned short)((u >> 16) | 0x40u);
		return;
	}
	u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even
	p->bits = (unsigned short)(u >> 16);
}
DEVICE void store(f16* p, float v) {
	unsigned int u = f32_as_u32(v);
	unsigned int sign = (u >> 16) & 0x8000u;
	unsigned int a = u & 0x7fffffffu;
	unsigned short h;
	if (a > 0x7f800000u) {
		h = (unsigned short)(sign | 0x7e00u); // nan
	} else if (a >= 0x477ff000u) {
		h = (unsigned short)(sign | 0x7c00u); // overflow (≥ 65520) and inf
	} else if (a < 0x38800000u) {
		// subnormal or zero: round a·2^24 to an integer, nearest even
		unsigned int shift = 113u - (a >> 23); // ≥ 1
		if (shift > 11u) { // below half the smallest subnormal (2^-25): zero
			h = (unsigned short)sign;
		} else {
			unsigned int man = (a & 0x7fffffu) | 0x800000u;
			unsigned int q = man >> (shift + 13u);
			unsigned int rem = man & ((1u << (shift + 13u)) - 1u);
			unsigned int half = 1u << (shift + 12u);
			if (rem > half || (rem == half && (q & 1u))) q++;
			h = (unsigned short)(sign | q);
		}
	} else {
		unsigned int r = a + 0xfffu + ((a >> 13) & 1u); // round to nearest even
		h = (unsigned short)(sign | ((r - 0x38000000u) >> 13));
	}
	p->bits = h;
}

// ------------------------------------------------------------- reductions

DEVICE float warp_sum(float v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}
DEVICE float warp_max(float v) {
	for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

// block_sum returns the sum of v over the block to every thread. blockDim.x
// must be a multiple of 32 and at most 1024; red holds 32 floats.
DEVICE float block_sum(float v, float* red) {
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	v = warp_sum(v);
	__syncthreads(); // red may still be read by an earlier call
	if (lane == 0) red[warp] = v;
	__syncthreads();
	v = lane < nw ? red[lane] : 0.0f;
	return warp_sum(v);
}

// ------------------------------------------------------------------ kernels

// embed: x[r] = wte[ids[r]] (+ wpe[pos[r]] for GPT-Neo). Grid: rows.
template <typename T>
DEVICE void embed(float* x, const int* ids, const int* pos, const T* wte, const T* wpe, int D) {
	int r = blockIdx.x;
	const T* e = wte + (long long)ids[r] * D;
	float* out = x + (long long)r * D;
	if (wpe) {
		const T* p = wpe + (long long)pos[r] * D;
		for (int i = threadIdx.x; i < D; i += blockDim.x) out[i] = to_f32(e[i]) + to_f32(p[i]);
	} else {
		for (int i = threadIdx.x; i < D; i += blockDim.x) out[i] = to_f32(e[i]);
	}
}

// layernorm: out1[i] = LN(x[row])·w1 + b1 with row = rows ? rows[i] : i,
// the biased variance and eps inside the square root (torch.nn.LayerNorm);
// when w2 is set, out2[i] is the same row under the second norm (GPT-NeoX's
// parallel residual normalizes one x twice). Grid: output rows.
template <typename T>
DEVICE void layernorm(T* out1, const T* w1, const T* b1, T* out2, const T* w2, const T* b2,
		const float* x, const int* rows, int D, float eps) {
	__shared__ float red[32];
	int i = blockIdx.x;
	int r = rows ? rows[i] : i;
	const float* xr = x + (long long)r * D;
	float s = 0.0f;
	for (int j = threadIdx.x; j < D; j += blockDim.x) s += xr[j];
	float mean = block_sum(s, red) / (float)D;
	float q = 0.0f;
	for (int j = threadIdx.x; j < D; j += blockDim.x) {
		float d = xr[j] - mean;
		q += d * d;
	}
	float rstd = 1.0f / sqrtf(block_sum(q, red) / (float)D + eps);
	T* o1 = out1 + (long long)i * D;
	for (int j = threadIdx.x; j < D; j += blockDim.x) {
		float n = (xr[j] - mean) * rstd;
		store(o1 + j, n * to_f32(w1[j]) + to_f32(b1[j]));
	}
	if (w2) {
		T* o2 = out2 + (long long)i * D;
		for (int j = threadIdx.x; j < D; j += blockDim.x) {
			float n = (xr[j] - mean) * rstd;
			store(o2 + j, n * to_f32(w2[j]) + to_f32(b2[j]));
		}
	}
}

// qkv_rope adds the projection's bias to the fused q/k/v rows (per head
// (q, k, v) blocks of hd, as GPT-NeoX lays them out), rotates the first
// rot dims of each head's q and k (rotate-half, GPT-NeoX), writes q back
// in place and k, v into the KV cache at [seq][head][pos] (cap positions
// per sequence and head). Grid: rows.
template <typename T>
DEVICE void qkv_rope(float* qkv, const T* bias, float* kc, float* vc, const int* rowSeq, const int* rowPos,
		const float* cosT, const float* sinT, int H, int hd, int rot, int cap) {
	int r = blockIdx.x;
	int D = H * hd, half = rot / 2;
	int s = rowSeq[r], pos = rowPos[r];
	float* row = qkv + (long long)r * 3 * D;
	const float* c = cosT + (long long)pos * half;
	const float* sn = sinT + (long long)pos * half;
	for (int e = threadIdx.x; e < D; e += blockDim.x) {
		int h = e / hd, d = e % hd;
		if (d >= half && d < rot) continue; // the pair's first half writes both
		int qi = 3 * h * hd + d, ki = qi + hd, vi = qi + 2 * hd;
		long long cb = ((long long)(s * H + h) * cap + pos) * hd;
		float q = row[qi], k = row[ki], v = row[vi];
		if (bias) {
			q += to_f32(bias[qi]);
			k += to_f32(bias[ki]);
			v += to_f32(bias[vi]);
		}
		if (d < half) {
			float q2 = row[qi + half], k2 = row[ki + half];
			if (bias) {
				q2 += to_f32(bias[qi + half]);
				k2 += to_f32(bias[ki + half]);
			}
			float v2 = row[vi + half] + (bias ? to_f32(bias[vi + half]) : 0.0f);
			row[qi] = q * c[d] - q2 * sn[d];
			row[qi + half] = q2 * c[d] + q * sn[d];
			kc[cb + d] = k * c[d] - k2 * sn[d];
			kc[cb + d + half] = k2 * c[d] + k * sn[d];
			vc[cb + d] = v;
			vc[cb + d + half] = v2;
		} else {
			row[qi] = q;
			kc[cb + d] = k;
			vc[cb + d] = v;
		}
	}
}

// value_only is the short-circuited attention: each token attends only to
// itself, so its attention output is its own value vector (bias included).
// Grid: rows.
template <typename T>
DEVICE void value_only(T* att, const float* qkv, const T* bias, int H, int hd) {
	int r = blockIdx.x, D = H * hd;
	const float* row = qkv + (long long)r * 3 * D;
	for (int e = threadIdx.x; e < D; e += blockDim.x) {
		int h = e / hd, d = e % hd;
		int vi = 3 * h * hd + 2 * hd + d;
		store(att + (long long)r * D + e, row[vi] + (bias ? to_f32(bias[vi]) : 0.0f));
	}
}

// Attention tiling: a block takes up to ATT_QT consecutive query rows of one
// sequence (a tile) and one head; it streams that sequence's keys and values
// through shared memory ATT_KT at a time with an online softmax. Each of its
// ATT_NW warps owns every ATT_NW-th query of the tile; lane j scores key j of
// the tile, and lanes split the head dims for the weighted sum (hd ≤ 128).
#define ATT_NW 4
#define ATT_QT 16
#define ATT_KT 32

// attention computes softmax(scale·q·kᵀ + causal/local mask)·v. tiles holds
// (first row, rows, sequence) per tile; window > 0 restricts each query at
// position p to keys (p-window, p] (GPT-Neo local attention). Queries are
// read from qkv (rotated in place by qkv_rope), keys and values from the
// cache. Grid: (tiles, heads); block: 32·ATT_NW threads; dynamic shared
// memory: attention_shared_bytes(hd).
template <typename T>
DEVICE void attention(T* out, const float* qkv, const float* kc, const float* vc, const int* tiles, const int* rowPos,
		int H, int hd, int cap, float scale, int window) {
	DYN_SHARED(float, sm);
	const int KS = hd + 1; // padded key rows: lanes read different banks
	float* sq = sm;                 // [ATT_QT][hd]
	float* sk = sq + ATT_QT * hd;   // [ATT_KT][hd+1]
	float* sv = sk + ATT_KT * KS;   // [ATT_KT][hd]
	float* sp = sv + ATT_KT * hd;   // [ATT_NW][32]
	int tile = blockIdx.x, h = blockIdx.y;
	int row0 = tiles[3 * tile], n = tiles[3 * tile + 1], s = tiles[3 * tile + 2];
	int D = H * hd;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	for (int i = threadIdx.x; i < n * hd; i += blockDim.x) {
		int q = i / hd, d = i % hd;
		sq[i] = qkv[(long long)(row0 + q) * 3 * D + 3 * h * hd + d];
	}
	int pmin = rowPos[row0], pmax = rowPos[row0 + n - 1];
	int kLo = window > 0 ? max(0, pmin - window + 1) : 0, kHi = pmax + 1;
	const float* K = kc + (long long)(s * H + h) * cap * hd;
	const float* V = vc + (long long)(s * H + h) * cap * hd;
	float mrun[ATT_QT / ATT_NW], lrun[ATT_QT / ATT_NW], acc[ATT_QT / ATT_NW][4];
	for (int j = 0; j < ATT_QT / ATT_NW; j++) {
		mrun[j] = -MS_INF;
		lrun[j] = 0.0f;
		for (int c = 0; c < 4; c++) acc[j][c] = 0.0f;
	}
	for (int k0 = kLo; k0 < kHi; k0 += ATT_KT) {
		int kn = min(ATT_KT, kHi - k0);
		__syncthreads(); // every warp is done with the previous tile
		for (int i = threadIdx.x; i < kn * hd; i += blockDim.x) {
			int k = i / hd, d = i % hd;
			sk[k * KS + d] = K[(long long)(k0 + k) * hd + d];
			sv[i] = V[(long long)k0 * hd + i];
		}
		__syncthreads();
		for (int j = 0; j < ATT_QT / ATT_NW; j++) {
			int qi = warp + ATT_NW * j;
			if (qi >= n) break; // warp-uniform
			int p = pmin + qi;
			int first = window > 0 ? max(0, p - window + 1) : 0;
			int key = k0 + lane;
			float sc = -MS_INF;
			if (lane < kn && key >= first && key <= p) {
				const float* qv = sq + qi * hd;
				const float* kv = sk + lane * KS;
				float dot = 0.0f;
				for (int d = 0; d < hd; d++) dot += qv[d] * kv[d];
				sc = dot * scale;
			}
			float tmax = warp_max(sc);
			if (tmax == -MS_INF) continue; // no key of this tile is visible: warp-uniform
			float mnew = fmaxf(mrun[j], tmax);
			float corr = expf(mrun[j] - mnew);
			float pj = sc == -MS_INF ? 0.0f : expf(sc - mnew);
			lrun[j] = lrun[j] * corr + warp_sum(pj);
			mrun[j] = mnew;
			sp[warp * 32 + lane] = pj;
			__syncwarp();
			for (int c = 0; c < 4; c++) {
				int d = lane + 32 * c;
				if (d >= hd) break;
				float a = acc[j][c] * corr;
				for (int t = 0; t < kn; t++) a += sp[warp * 32 + t] * sv[t * hd + d];
				acc[j][c] = a;
			}
			__syncwarp(); // sp is rewritten for the next query
		}
	}
	for (int j = 0; j < ATT_QT / ATT_NW; j++) {
		int qi = warp + ATT_NW * j;
		if (qi >= n) break;
		T* o = out + (long long)(row0 + qi) * D + h * hd;
		float inv = 1.0f / lrun[j];
		for (int c = 0; c < 4; c++) {
			int d = lane + 32 * c;
			if (d >= hd) break;
			store(o + d, acc[j][c] * inv);
		}
	}
}

// bias_act: out = act(in + b) over rows of n. act 0: none, 1: exact GELU
// (HF "gelu"), 2: tanh GELU (HF "gelu_new"). Grid-stride.
template <typename T>
DEVICE void bias_act(T* out, const float* in, const T* b, long long total, int n, int act) {
	long long stride = (long long)gridDim.x * blockDim.x;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
		float x = in[i] + (b ? to_f32(b[i % n]) : 0.0f);
		if (act == 1) {
			x = 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
		} else if (act == 2) {
			x = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * (x * x * x))));
		}
		store(out + i, x);
	}
}

// residual: x = (m + bm) + (a + ba) + x, as HF adds "mlp_output +
// attn_output + hidden_states"; either branch may be absent (null). Grid-stride.
template <typename T>
DEVICE void residual(float* x, const float* a, const T* ba, const float* m, const T* bm, long long total, int D) {
	long long stride = (long long)gridDim.x * blockDim.x;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
		int j = (int)(i % D);
		float r = x[i];
		if (m) {
			float mv = m[i] + (bm ? to_f32(bm[j]) : 0.0f);
			if (a) {
				float av = a[i] + (ba ? to_f32(ba[j]) : 0.0f);
				r = (mv + av) + r;
			} else {
				r = mv + r;
			}
		} else if (a) {
			r = (a[i] + (ba ? to_f32(ba[j]) : 0.0f)) + r;
		}
		x[i] = r;
	}
}

// argmax_better orders (value, index) pairs as numpy's argmax picks: a
// NaN beats every number (the first NaN wins), else the larger value, ties
// to the lower index.
DEVICE bool argmax_better(float v, int i, float bv, int bi) {
	bool vn = v != v, bn = bv != bv;
	if (bn) return vn && i < bi;
	if (vn) return true;
	return v > bv || (v == bv && i < bi);
}

// argmax_warp reduces (value, index) pairs over a warp with argmax_better,
// leaving the winner in every lane.
DEVICE void argmax_warp(float& bv, int& bi) {
	for (int o = 16; o > 0; o >>= 1) {
		float ov = __shfl_xor_sync(0xffffffffu, bv, o);
		int oi = __shfl_xor_sync(0xffffffffu, bi, o);
		if (argmax_better(ov, oi, bv, bi)) {
			bv = ov;
			bi = oi;
		}
	}
}

// row_stats summarizes rows of logits z [rows][V] as engine.RowStats
// defines them (memscope's numerics policy): numpy's argmax; log Z NaN when
// the row holds a NaN, +Inf when it holds +Inf, -Inf when every value is
// -Inf, else the log-sum-exp of its finite values (-Inf entries and terms
// below e^-87 weigh nothing); the entropy (nats) of softmax(z), NaN
// whenever log Z is not finite; and the logit of targets[r] when targets is
// set. stats[r] = (logZ, entropy, target logit). Grid: rows; block: a
// multiple of 32.
KERNEL void row_stats(const float* z, int V, const int* targets, float* stats, int* amax) {
	__shared__ float redv[32];
	__shared__ int redi[32];
	__shared__ float red[32];
	int r = blockIdx.x;
	const float* zr = z + (long long)r * V;
	float bv = -MS_INF;
	int bi = 0x7fffffff;
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		float v = zr[j];
		if (argmax_better(v, j, bv, bi)) {
			bv = v;
			bi = j;
		}
	}
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
	argmax_warp(bv, bi);
	if (lane == 0) {
		redv[warp] = bv;
		redi[warp] = bi;
	}
	__syncthreads();
	bv = lane < nw ? redv[lane] : -MS_INF;
	bi = lane < nw ? redi[lane] : 0x7fffffff;
	argmax_warp(bv, bi);
	float m = bv; // the same in every thread
	bool finite = m == m && m != MS_INF && m != -MS_INF;
	float s = 0.0f, t = 0.0f;
	if (finite) {
		for (int j = threadIdx.x; j < V; j += blockDim.x) {
			float d = zr[j] - m;
			if (d >= -87.0f) { // -Inf entries and negligible terms weigh nothing
				float e = expf(d);
				s += e;
				t += e * d;
			}
		}
		s = block_sum(s, red);
		t = block_sum(t, red);
	}
	if (threadIdx.x == 0) {
		float ls = logf(s);
		stats[3 * r] = finite ? m + ls : m; // NaN, +Inf or -Inf as the row says
		stats[3 * r + 1] = finite ? ls - t / s : m - m; // NaN unless finite
		stats[3 * r + 2] = targets ? zr[targets[r]] : 0.0f;
		amax[r] = bi == 0x7fffffff ? 0 : bi;
	}
}
REGISTER(row_stats)

// ------------------------------------------------------------ instances

#define INSTANCES(sfx, T)                                                                                       \
	KERNEL void embed_##sfx(float* x, const int* ids, const int* pos, const T* wte, const T* wpe, int D) {     \
		embed<T>(x, ids, pos, wte, wpe, D);                                                                 \
	}                                                                                                       \
	REGISTER(embed_##sfx)                                                                                   \
	KERNEL void layernorm_##sfx(T* out1, const T* w1, const T* b1, T* out2, const T* w2, const T* b2,           \
			const float* x, const int* rows, int D, float eps) {                                          \
		layernorm<T>(out1, w1, b1, out2, w2, b2, x, rows, D, eps);                                        \
	}                                                                                                       \
	REGISTER(layernorm_##sfx)                                                                               \
	KERNEL void qkv_rope_##sfx(float* qkv, const T* bias, float* kc, float* vc, const int* rowSeq,               \
			const int* rowPos, const float* cosT, const float* sinT, int H, int hd, int rot, int cap) {     \
		qkv_rope<T>(qkv, bias, kc, vc, rowSeq, rowPos, cosT, sinT, H, hd, rot, cap);                     \
	}                                                                                                       \
	REGISTER(qkv_rope_##sfx)                                                                                \
	KERNEL void value_only_##sfx(T* att, const float* qkv, const T* bias, int H, int hd) {                     \
		value_only<T>(att, qkv, bias, H, hd);                                                             \
	}                                                                                                       \
	REGISTER(value_only_##sfx)                                                                              \
	KERNEL void attention_##sfx(T* out, const float* qkv, const float* kc, const float* vc, const int* tiles,  \
			const int* rowPos, int H, int hd, int cap, float scale, int window) {                          \
		attention<T>(out, qkv, kc, vc, tiles, rowPos, H, hd, cap, scale, window);                         \
	}                                                                                                       \
	REGISTER(attention_##sfx)                                                                               \
	KERNEL void bias_act_##sfx(T* out, const float* in, const T* b, long long total, int n, int act) {         \
		bias_act<T>(out, in, b, total, n, act);                                                           \
	}                                                                                                       \
	REGISTER(bias_act_##sfx)                                                                                \
	KERNEL void residual_##sfx(float* x, const float* a, const T* ba, const float* m, const T* bm,             \
			long long total, int D) {                                                                       \
		residual<T>(x, a, ba, m, bm, total, D);                                                           \
	}                                                                                                       \
	REGISTER(residual_##sfx)                                                                                \
	KERNEL void convert_##sfx(T* out, const float* in, long long n) {                                          \
		long long stride = (long long)gridDim.x * blockDim.x;                                             \
		for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)         \
			store(out + i, in[i]);                                                                        \
	}                                                                                                       \
	REGISTER(convert_##sfx)                                                                                 \
	KERNEL void widen_##sfx(float* out, const T* in, long long n) {                                            \
		long long stride = (long long)gridDim.x * blockDim.x;                                             \
		for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)         \
			out[i] = to_f32(in[i]);                                                                       \
	}                                                                                                       \
	REGISTER(widen_##sfx)

INSTANCES(f32, float)
INSTANCES(f16, f16)
INSTANCES(bf16, bf16)
