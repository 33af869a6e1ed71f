package cpu

import (
	"gonum.org/v1/gonum/blas"
)

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
	m.parallel(len(p.N), 1, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			for i := 0; i < p.N[s]; i++ {
				r := p.Off[s] + i
				pos := p.Pos0[s] + i
				row := qkv[r*3*D : (r+1)*3*D]
				for h := 0; h < H; h++ {
					q := row[3*h*hd : (3*h+1)*hd]
					k := row[(3*h+1)*hd : (3*h+2)*hd]
					v := row[(3*h+2)*hd : (3*h+3)*hd]
					if m.set.RotaryDims > 0 {
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
	W := blk.window
	// Decode steps (one new token per sequence): a vectorized kernel per
	// (sequence, head), spread over the threads; BLAS calls for a single
	// query cost more than they compute.
	single := true
	for _, n := range p.N {
		single = single && n == 1
	}
	if single {
		H2 := len(p.N) * H
		m.parallel(H2, 1, func(lo, hi int) {
			var buf []float32
			for sh := lo; sh < hi; sh++ {
				s, h := sh/H, sh%H
				pos, cp := p.Pos0[s], kv[s].cap
				kLo := 0
				if W > 0 {
					kLo = max(0, pos-W+1)
				}
				kn := pos + 1 - kLo
				if len(buf) < kn {
					buf = make([]float32, kn)
				}
				r := p.Off[s]
				attendOne(qkv[r*3*D+3*h*hd:], kv[s].k[(h*cp+kLo)*hd:], kv[s].v[(h*cp+kLo)*hd:], kn, hd,
					m.set.AttnScale, att[r*D+h*hd:], buf)
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
	for s, n := range p.N {
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
	D, H, W := c.HiddenSize, c.NumHeads, blk.window
	hd := D / H
	n, pos0, off, cp := p.N[s], p.Pos0[s], p.Off[s], kv[s].cap
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
		if W > 0 {
			kLo = max(0, pos0+i0-W+1)
		}
		kn := kHi - kLo
		S := scores[:qn*kn]
		m.blas.Sgemm(blas.NoTrans, blas.Trans, qn, kn, hd, m.set.AttnScale,
			qkv[(off+i0)*3*D+3*h*hd:], 3*D, K[kLo*hd:], hd, 0, S, kn)
		rows := func(lo, hi int) {
			for i := lo; i < hi; i++ {
				pos := pos0 + i0 + i
				first := 0
				if W > 0 {
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
	half := m.set.RotaryDims / 2
	cos := m.cos[pos*half : (pos+1)*half]
	sin := m.sin[pos*half : (pos+1)*half]
	x1 := x[:half]
	x2 := x[half:m.set.RotaryDims]
	for i := range half {
		a, b := x1[i], x2[i]
		x1[i] = a*cos[i] - b*sin[i]
		x2[i] = b*cos[i] + a*sin[i]
	}
}
