package cpu

import (
	"context"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// pass describes one forward pass over packed rows: no padding, sequence
// s owns rows [off[s], off[s]+n[s]) of every activation matrix, and its
// first new token sits at position pos0[s] (the length of its KV cache).
// Only attention mixes rows, and it stays inside each sequence's rows, so
// a sequence gets the same numbers whatever else is in the pass.
type pass struct {
	n, off, pos0 []int
	rows         int
	posOf        []int // position of each row
	// nonFinite is where each sequence first went NaN or ±Inf (nil: not).
	nonFinite []*engine.NonFinite
}

func newPass(n, pos0 []int) pass {
	p := pass{n: n, pos0: pos0, off: make([]int, len(n)), nonFinite: make([]*engine.NonFinite, len(n))}
	for s, k := range n {
		p.off[s] = p.rows
		p.rows += k
	}
	p.posOf = make([]int, p.rows)
	for s, k := range n {
		for i := 0; i < k; i++ {
			p.posOf[p.off[s]+i] = pos0[s] + i
		}
	}
	return p
}

// kvSeq holds the rotated keys and the values of one sequence in one
// layer, each [heads][cap][headDim].
type kvSeq struct {
	k, v []float32
	cap  int
}

// kvCache is a KV cache: [layer][sequence].
type kvCache [][]kvSeq

func (m *Model) newCache(caps []int) kvCache {
	D := m.cfg.HiddenSize
	c := make(kvCache, len(m.blocks))
	for l := range c {
		c[l] = make([]kvSeq, len(caps))
		for s, n := range caps {
			c[l][s] = kvSeq{k: make([]float32, n*D), v: make([]float32, n*D), cap: n}
		}
	}
	return c
}

// hiddenHook receives the residual stream in HF's hidden_states
// numbering (0 = embeddings, L = after the final layer norm); x is reused
// after the call returns.
type hiddenHook func(i int, x []float32)

// forward runs the model over the pass's rows and returns the final
// layer norm's output [rows, D]. With a cache, the new keys and values
// are appended to it and attention also sees the cached ones.
func (m *Model) forward(ctx context.Context, ids []int32, p pass, iv intervention.Intervention, cache kvCache, hook hiddenHook) ([]float32, error) {
	c := m.cfg
	D, I, R := c.HiddenSize, c.IntermediateSize, p.rows
	x := make([]float32, R*D)
	m.parallel(R, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*D : (r+1)*D]
			copy(row, m.embed[int(ids[r])*D:(int(ids[r])+1)*D])
			if m.posEmb != nil {
				pe := m.posEmb[p.posOf[r]*D:]
				for j := range row {
					row[j] += pe[j]
				}
			}
		}
	})
	m.checkFinite(x, D, p, -1, engine.PartEmbeddings)
	if hook != nil {
		hook(0, x)
	}
	h := make([]float32, R*D)
	qkv := make([]float32, R*3*D)
	att := make([]float32, R*D)
	a := make([]float32, R*D)
	ff := make([]float32, R*I)
	var scratch []kvSeq
	if cache == nil {
		scratch = make([]kvSeq, len(p.n))
		for s, n := range p.n {
			scratch[s] = kvSeq{k: make([]float32, n*D), v: make([]float32, n*D), cap: n}
		}
	}
	sequential := c.ModelType == modelconfig.GPTNeo || !c.ParallelResidual
	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		blk := &m.blocks[l]
		zero := iv.Kind == intervention.AttnZero && iv.Has(l)
		sc := iv.Kind == intervention.AttnShortCircuit && iv.Has(l)
		m.layerNorm(h, x, blk.ln1, R)
		if !zero {
			m.linear(h, R, &blk.qkv, qkv, actNone)
			if sc {
				m.identityAttention(qkv, att, R)
			} else {
				kv := scratch
				if cache != nil {
					kv = cache[l]
				}
				m.attention(blk, qkv, att, p, kv)
			}
			m.linear(att, R, &blk.dense, a, actNone)
			m.checkFinite(a, D, p, l, engine.PartAttention)
		}
		if !sequential {
			// HF: mlp_output + attn_output + hidden_states
			m.layerNorm(h, x, blk.ln2, R)
			m.mlp(blk, h, ff, R)
			m.checkFinite(h, D, p, l, engine.PartMLP)
			m.parallel(R*D, 4096, func(lo, hi int) {
				if zero {
					for i := lo; i < hi; i++ {
						x[i] = h[i] + x[i]
					}
					return
				}
				for i := lo; i < hi; i++ {
					x[i] = (h[i] + a[i]) + x[i]
				}
			})
		} else {
			// HF: attn_output + residual, then mlp_output + that
			if !zero {
				m.parallel(R*D, 4096, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						x[i] = a[i] + x[i]
					}
				})
				m.checkFinite(x, D, p, l, engine.PartResidual)
			}
			m.layerNorm(h, x, blk.ln2, R)
			m.mlp(blk, h, ff, R)
			m.checkFinite(h, D, p, l, engine.PartMLP)
			m.parallel(R*D, 4096, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					x[i] = h[i] + x[i]
				}
			})
		}
		// A residual sum may overflow although both parts were finite.
		m.checkFinite(x, D, p, l, engine.PartResidual)
		if hook != nil && l < len(m.blocks)-1 {
			hook(l+1, x)
		}
	}
	m.layerNorm(h, x, m.lnF, R)
	m.checkFinite(h, D, p, len(m.blocks), engine.PartFinalNorm)
	if hook != nil {
		hook(len(m.blocks), h)
	}
	return h, nil
}

// mlp computes fc2(act(fc1(h))) into h ([rows, D]); ff is [rows, I] scratch.
func (m *Model) mlp(blk *block, h, ff []float32, R int) {
	m.linear(h, R, &blk.fc1, ff, m.act)
	m.linear(ff, R, &blk.fc2, h, actNone)
}

// linear computes y = act(x·Wᵀ + b) for R rows.
func (m *Model) linear(x []float32, R int, lin *linear, y []float32, act int) {
	if R == 0 {
		return
	}
	m.matmulT(R, lin.out, lin.in, x, lin.w, y, lin.out)
	if lin.b == nil && act == actNone {
		return
	}
	N := lin.out
	m.parallel(R, max(1, 4096/N), func(lo, hi int) {
		biasAct(y[lo*N:hi*N], lin.b, hi-lo, N, act)
	})
}

func (m *Model) layerNorm(dst, x []float32, ln layerNorm, R int) {
	D := m.cfg.HiddenSize
	eps := m.cfg.LayerNormEps
	m.parallel(R, max(1, 4096/D), func(lo, hi int) {
		layerNormRows(dst[lo*D:hi*D], x[lo*D:hi*D], ln.w, ln.b, hi-lo, D, eps)
	})
}

// identityAttention is the short-circuit: the attention matrix is the
// identity, so each row's attention output is its own value vector.
func (m *Model) identityAttention(qkv, att []float32, R int) {
	D, H := m.cfg.HiddenSize, m.cfg.NumHeads
	hd := D / H
	m.parallel(R, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			for h := 0; h < H; h++ {
				copy(att[r*D+h*hd:r*D+(h+1)*hd], qkv[r*3*D+(3*h+2)*hd:r*3*D+(3*h+3)*hd])
			}
		}
	})
}

// scoreBudget bounds the attention score scratch (floats): queries are
// processed in chunks so that chunk × keys stays under it.
var scoreBudget = 1 << 20

// attention computes softmax(scale·Q·Kᵀ + mask)·V for every sequence and
// head into att ([rows, D], heads side by side). It rotates q and k and
// appends k and v to kv.
func (m *Model) attention(blk *block, qkv, att []float32, p pass, kv []kvSeq) {
	c := m.cfg
	D, H := c.HiddenSize, c.NumHeads
	hd := D / H
	// Rotate q and k in place, then copy k and v to the per-sequence
	// [head][pos][hd] buffers.
	m.parallel(len(p.n), 1, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			for i := 0; i < p.n[s]; i++ {
				r := p.off[s] + i
				pos := p.pos0[s] + i
				row := qkv[r*3*D : (r+1)*3*D]
				for h := 0; h < H; h++ {
					q := row[3*h*hd : (3*h+1)*hd]
					k := row[(3*h+1)*hd : (3*h+2)*hd]
					v := row[(3*h+2)*hd : (3*h+3)*hd]
					if m.rotDims > 0 {
						m.rotate(q, pos)
						m.rotate(k, pos)
					}
					base := (h*kv[s].cap + pos) * hd
					copy(kv[s].k[base:base+hd], k)
					copy(kv[s].v[base:base+hd], v)
				}
			}
		}
	})
	W := c.WindowSize
	// Decode steps (one new token per sequence): a vectorized kernel per
	// (sequence, head), spread over the threads; BLAS calls for a single
	// query cost more than they compute.
	single := true
	for _, n := range p.n {
		single = single && n == 1
	}
	if single {
		H2 := len(p.n) * H
		m.parallel(H2, 1, func(lo, hi int) {
			var buf []float32
			for sh := lo; sh < hi; sh++ {
				s, h := sh/H, sh%H
				pos, cp := p.pos0[s], kv[s].cap
				kLo := 0
				if blk.local {
					kLo = max(0, pos-W+1)
				}
				kn := pos + 1 - kLo
				if len(buf) < kn {
					buf = make([]float32, kn)
				}
				r := p.off[s]
				attendOne(qkv[r*3*D+3*h*hd:], kv[s].k[(h*cp+kLo)*hd:], kv[s].v[(h*cp+kLo)*hd:], kn, hd,
					m.attnScale, att[r*D+h*hd:], buf)
			}
		})
		return
	}
	// Prefill: per (sequence, head), scores by BLAS a chunk of queries at a
	// time, masked softmax, then P·V by BLAS. With Go-side threading the
	// (sequence, head) pairs run in parallel on single-threaded BLAS;
	// otherwise they run in turn and OpenBLAS threads each product.
	type item struct{ s, h int }
	var items []item
	for s, n := range p.n {
		for h := 0; h < H && n > 0; h++ {
			items = append(items, item{s, h})
		}
	}
	workers := 1
	if m.goThreads {
		workers = min(m.threads, len(items))
	}
	m.parallel(len(items), max(1, len(items)/max(1, workers)), func(lo, hi int) {
		var scores []float32
		for _, it := range items[lo:hi] {
			scores = m.attendPrefill(blk, qkv, att, p, kv, it.s, it.h, scores, !m.goThreads)
		}
	})
}

// attendPrefill computes attention for the new rows of sequence s, head h.
// parallelSoftmax spreads the softmax rows over the threads (only when
// the caller runs items one at a time).
func (m *Model) attendPrefill(blk *block, qkv, att []float32, p pass, kv []kvSeq, s, h int, scores []float32, parallelSoftmax bool) []float32 {
	c := m.cfg
	D, H, W := c.HiddenSize, c.NumHeads, c.WindowSize
	hd := D / H
	n, pos0, off, cp := p.n[s], p.pos0[s], p.off[s], kv[s].cap
	total := pos0 + n
	qc := max(1, min(n, scoreBudget/total))
	if need := qc * total; len(scores) < need {
		scores = make([]float32, need)
	}
	K := kv[s].k[h*cp*hd:]
	V := kv[s].v[h*cp*hd:]
	for i0 := 0; i0 < n; i0 += qc {
		i1 := min(n, i0+qc)
		qn := i1 - i0
		kLo, kHi := 0, pos0+i1
		if blk.local {
			kLo = max(0, pos0+i0-W+1)
		}
		kn := kHi - kLo
		S := scores[:qn*kn]
		m.blas.Sgemm(blas.NoTrans, blas.Trans, qn, kn, hd, m.attnScale,
			qkv[(off+i0)*3*D+3*h*hd:], 3*D, K[kLo*hd:], hd, 0, S, kn)
		rows := func(lo, hi int) {
			for i := lo; i < hi; i++ {
				pos := pos0 + i0 + i
				first := 0
				if blk.local {
					first = max(0, pos-W+1)
				}
				row := S[i*kn : (i+1)*kn]
				a, b := first-kLo, pos-kLo+1
				clear(row[:a])
				softmax(row[a:b])
				clear(row[b:])
			}
		}
		if parallelSoftmax {
			m.parallel(qn, max(1, 8192/kn), rows)
		} else {
			rows(0, qn)
		}
		m.blas.Sgemm(blas.NoTrans, blas.NoTrans, qn, hd, kn, 1, S, kn, V[kLo*hd:], hd,
			0, att[(off+i0)*D+h*hd:], D)
	}
	return scores
}

// rotate applies GPT-NeoX rotary embedding (rotate-half convention) to the
// first rotDims dims of one head's vector at position pos.
func (m *Model) rotate(x []float32, pos int) {
	half := m.rotDims / 2
	cos := m.cos[pos*half : (pos+1)*half]
	sin := m.sin[pos*half : (pos+1)*half]
	x1 := x[:half]
	x2 := x[half:m.rotDims]
	for i := range half {
		a, b := x1[i], x2[i]
		x1[i] = a*cos[i] - b*sin[i]
		x2[i] = b*cos[i] + a*sin[i]
	}
}

// matmulT computes c = a·bᵀ for a [M, K], b [N, K] and c [M, N] with row
// stride ldc. With Go-side threading the output columns (rows of b, the
// weights) are split over the threads, each running single-threaded BLAS:
// every thread streams its own part of the weights, which is what a
// decode step (small M) is bound by.
func (m *Model) matmulT(M, N, K int, a, b, c []float32, ldc int) {
	if M == 0 || N == 0 {
		return
	}
	workers := 1
	if m.goThreads && 2*M*N*K >= 1<<20 {
		workers = min(m.threads, max(1, N/64))
	}
	// A few rows (decode steps): the weights are read once, unpacked.
	gemv := m.goThreads && M <= gemvRows
	mul := func(n0, n1 int) {
		if !gemv || !gemvNT(M, n1-n0, K, a, b[n0*K:], c[n0:], ldc) {
			m.blas.Sgemm(blas.NoTrans, blas.Trans, M, n1-n0, K, 1, a, K, b[n0*K:], K, 0, c[n0:], ldc)
		}
	}
	if workers <= 1 {
		mul(0, N)
		return
	}
	chunk := (N/workers + 15) &^ 15 // multiple of 16 columns
	m.parallel(workers, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			n0 := min(N, w*chunk)
			n1 := min(N, n0+chunk)
			if w == workers-1 {
				n1 = N
			}
			if n1 > n0 {
				mul(n0, n1)
			}
		}
	})
}

// parallel runs f over [0, n) split across the model's threads, with at
// least grain items per goroutine. It must not be called while a BLAS
// call is running (it never is: the engine calls BLAS from one goroutine).
func (m *Model) parallel(n, grain int, f func(lo, hi int)) {
	workers := m.threads
	if grain < 1 {
		grain = 1
	}
	if w := n / grain; w < workers {
		workers = w
	}
	if workers <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, min(n, chunk))
	wg.Wait()
}

// MatMulT computes c = a·bᵀ (a [M, K], b [N, K], c [M, N]) exactly as the
// engine does with the given thread count, for benchmarks of the
// matrix-product shapes.
func MatMulT(M, N, K int, a, b, c []float32, threads int) {
	setupBLAS()
	m := &Model{threads: max(1, threads), blas: tensor.WhichBLAS()}
	m.goThreads = usesCgoBLAS && goThreading && m.threads > 1 && setBLASThreads(1)
	if !m.goThreads {
		setBLASThreads(m.threads)
	}
	m.matmulT(M, N, K, a, b, c, N)
}
