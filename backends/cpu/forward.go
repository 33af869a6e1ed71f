package cpu

// The forward pass: embeddings, the block loop (layer norms, attention
// under the intervention, MLP, residual order) and the final layer norm.
// Attention is in attention.go, the thread scheduler and matrix products
// in threads.go.

import (
	"context"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// pass is one forward pass over packed rows (engine.Pass).
type pass = engine.Pass

// hiddenHook receives the residual stream in HF's hidden_states
// numbering (0 = embeddings, L = after the final layer norm); x is reused
// after the call returns.
type hiddenHook func(i int, x []float32)

// forward runs the model over the pass's rows and returns the final
// layer norm's output [rows, D]. With a cache, the new keys and values
// are appended to it and attention also sees the cached ones.
func (m *Model) forward(ctx context.Context, ids []int32, p pass, iv intervention.Intervention, cache kvCache, hook hiddenHook) ([]float32, error) {
	c := m.cfg
	D, I, R := c.HiddenSize, c.IntermediateSize, p.Rows
	x := make([]float32, R*D)
	m.parallel(R, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*D : (r+1)*D]
			copy(row, m.embed[int(ids[r])*D:(int(ids[r])+1)*D])
			if m.posEmb != nil {
				pe := m.posEmb[p.PosOf[r]*D:]
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
		scratch = make([]kvSeq, len(p.N))
		for s, n := range p.N {
			scratch[s] = kvSeq{k: make([]float32, n*D), v: make([]float32, n*D), cap: n}
		}
	}
	sequential := !m.set.ParallelResidual
	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		blk := &m.blocks[l]
		mode := iv.AttentionAt(l)
		zero := mode == intervention.AttentionZero
		m.layerNorm(h, x, blk.ln1, R)
		if !zero {
			m.linear(h, R, &blk.qkv, qkv, actNone)
			if mode == intervention.AttentionIdentity {
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
