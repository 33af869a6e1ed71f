package cuda

import (
	"context"
	"fmt"

	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// Attention tiling, as in kernels.cu (ATT_NW, ATT_QT, ATT_KT).
const (
	attWarps = 4
	attQT    = 16
	attKT    = 32
)

// attentionShared is the attention kernel's dynamic shared memory.
func attentionShared(hd int) int {
	return 4 * (attQT*hd + attKT*(hd+1) + attKT*hd + attWarps*32)
}

// threadsFor is a block size (multiple of 32, at most 256) for n items a row.
func threadsFor(n int) int { return min(256, (n+31)/32*32) }

// gridFor is a grid-stride grid for n elements with 256-thread blocks.
func gridFor(n int64) int { return int(min(4096, max(1, (n+255)/256))) }

// pass describes one forward pass over packed rows: sequence s owns rows
// [off[s], off[s]+n[s]), its first new token sits at position pos0[s]
// and its keys and values live in slot slot0+s of the KV cache. Only
// attention mixes rows, inside each sequence's rows, so a sequence gets
// the same numbers whatever else is in the pass.
type pass struct {
	n, off, pos0 []int
	slot0        int
	rows         int
	rowSeq       []int32 // cache slot of each row
	rowPos       []int32 // position of each row
	tiles        []int32 // attention tiles: (first row, rows, slot)
	maxLen       int     // longest pos0+n: the positions attention reaches
}

func newPass(n, pos0 []int, slot0 int) *pass {
	p := &pass{n: n, pos0: pos0, slot0: slot0, off: make([]int, len(n))}
	for s, k := range n {
		p.off[s] = p.rows
		p.rows += k
		p.maxLen = max(p.maxLen, pos0[s]+k)
	}
	p.rowSeq = make([]int32, 0, p.rows)
	p.rowPos = make([]int32, 0, p.rows)
	for s, k := range n {
		for i := 0; i < k; i++ {
			p.rowSeq = append(p.rowSeq, int32(slot0+s))
			p.rowPos = append(p.rowPos, int32(pos0[s]+i))
		}
		for i := 0; i < k; i += attQT {
			p.tiles = append(p.tiles, int32(p.off[s]+i), int32(min(attQT, k-i)), int32(slot0+s))
		}
	}
	return p
}

// kvCache holds each layer's rotated keys and values on the device,
// [slot][head][cap][headDim] float32. A scratch cache (layers == 1) serves
// every layer of a pass that keeps nothing.
type kvCache struct {
	k, v  []gpu.Ptr
	cap   int
	slots int
}

func (m *Model) newCache(slots, cap int) (*kvCache, error) {
	c := &kvCache{cap: cap, slots: slots}
	bytes := int64(slots) * int64(cap) * int64(m.cfg.HiddenSize) * 4
	for range m.blocks {
		k, err := m.dev.Alloc(bytes)
		if err != nil {
			m.freeCache(c)
			return nil, fmt.Errorf("KV cache of %d sequences × %d positions: %w", slots, cap, err)
		}
		c.k = append(c.k, k)
		v, err := m.dev.Alloc(bytes)
		if err != nil {
			m.freeCache(c)
			return nil, fmt.Errorf("KV cache of %d sequences × %d positions: %w", slots, cap, err)
		}
		c.v = append(c.v, v)
	}
	return c, nil
}

func (m *Model) freeCache(c *kvCache) {
	for _, p := range append(c.k, c.v...) {
		m.dev.Free(p)
	}
}

// layerKV returns layer l's key and value buffers.
func (c *kvCache) layerKV(l int) (gpu.Ptr, gpu.Ptr) {
	if len(c.k) == 1 {
		return c.k[0], c.v[0]
	}
	return c.k[l], c.v[l]
}

// state is one forward pass in flight: the residual stream x [rows, D]
// (float32) and the pass's row tables on the device. Blocks advance it
// one at a time, so a caller can copy x after block k and run the rest of
// the model more than once (a sweep forks the residual stream there).
type state struct {
	p                      *pass
	x                      gpu.Ptr
	ids, rowSeq, rowPos, t gpu.Ptr
	cache                  *kvCache
}

// start uploads the pass's tables and embeds its tokens.
func (m *Model) start(ids []int32, p *pass, cache *kvCache) (*state, error) {
	if cache == nil {
		kb := int64(len(p.n)) * int64(p.maxLen) * int64(m.cfg.HiddenSize) * 4
		k, err := m.ws.get(m.dev, "kscratch", kb)
		if err != nil {
			return nil, err
		}
		v, err := m.ws.get(m.dev, "vscratch", kb)
		if err != nil {
			return nil, err
		}
		cache = &kvCache{k: []gpu.Ptr{k}, v: []gpu.Ptr{v}, cap: p.maxLen, slots: len(p.n)}
	}
	st := &state{p: p, cache: cache}
	var err error
	for _, u := range []struct {
		dst  *gpu.Ptr
		name string
		v    []int32
	}{{&st.ids, "ids", ids}, {&st.rowSeq, "rowseq", p.rowSeq}, {&st.rowPos, "rowpos", p.rowPos}, {&st.t, "tiles", p.tiles}} {
		if *u.dst, err = m.ws.upload(m.dev, u.name, u.v); err != nil {
			return nil, err
		}
	}
	D := m.cfg.HiddenSize
	if st.x, err = m.ws.get(m.dev, "x", int64(p.rows*D*4)); err != nil {
		return nil, err
	}
	err = m.dev.Launch("embed"+m.dt.Suffix(), gpu.Grid1(p.rows), gpu.Grid1(threadsFor(D)), 0,
		st.x, st.ids, st.rowPos, m.embed, m.posEmb, int32(D))
	return st, err
}

// matmul computes out[R, N] (float32) = in[R, K]·Wᵀ with W [N, K] in the
// model's dtype: in cuBLAS's column-major terms outᵀ = W·inᵀ.
func (m *Model) matmul(out, in, w gpu.Ptr, R, N, K int) error {
	return m.dev.Gemm(gpu.Gemm{TransA: true, M: N, N: R, K: K, Alpha: 1,
		A: w, AType: m.dt, LDA: K, B: in, BType: m.dt, LDB: K, C: out, LDC: N})
}

// block runs transformer block l over the state's rows.
func (m *Model) block(l int, st *state, iv intervention.Intervention) error {
	c := m.cfg
	D, I, H, R := c.HiddenSize, c.IntermediateSize, c.NumHeads, st.p.rows
	hd := D / H
	blk := &m.blocks[l]
	sfx := m.dt.Suffix()
	es := int64(m.dt.Size())
	ws, dev := &m.ws, m.dev
	var h1, h2, qkv, att, a, ff, ffa, mo gpu.Ptr
	var err error
	for _, b := range []struct {
		p     *gpu.Ptr
		name  string
		bytes int64
	}{
		{&h1, "h1", int64(R*D) * es}, {&h2, "h2", int64(R*D) * es}, {&qkv, "qkv", int64(R*3*D) * 4},
		{&att, "att", int64(R*D) * es}, {&a, "a", int64(R*D) * 4}, {&ff, "ff", int64(R*I) * 4},
		{&ffa, "ffa", int64(R*I) * es}, {&mo, "mo", int64(R*D) * 4},
	} {
		if *b.p, err = ws.get(dev, b.name, b.bytes); err != nil {
			return err
		}
	}
	zero := iv.Kind == intervention.AttnZero && iv.Has(l)
	sc := iv.Kind == intervention.AttnShortCircuit && iv.Has(l)
	parallel := c.ModelType == modelconfig.GPTNeoX && c.ParallelResidual
	rowGrid, rowBlock := gpu.Grid1(R), gpu.Grid1(threadsFor(D))
	eps := float32(c.LayerNormEps)
	run := func(steps ...func() error) error {
		for _, s := range steps {
			if err := s(); err != nil {
				return fmt.Errorf("block %d: %w", l, err)
			}
		}
		return nil
	}
	norm := func(out gpu.Ptr, ln layerNorm, out2 gpu.Ptr, ln2 layerNorm) func() error {
		return func() error {
			return dev.Launch("layernorm"+sfx, rowGrid, rowBlock, 0, out, ln.w, ln.b, out2, ln2.w, ln2.b, st.x, gpu.Ptr(0), int32(D), eps)
		}
	}
	attention := func() error {
		if err := m.matmul(qkv, h1, blk.qkv.w, R, 3*D, D); err != nil {
			return err
		}
		if sc {
			if err := dev.Launch("value_only"+sfx, rowGrid, rowBlock, 0, att, qkv, blk.qkv.b, int32(H), int32(hd)); err != nil {
				return err
			}
		} else {
			kc, vc := st.cache.layerKV(l)
			if err := dev.Launch("qkv_rope"+sfx, rowGrid, rowBlock, 0, qkv, blk.qkv.b, kc, vc, st.rowSeq, st.rowPos,
				m.cos, m.sin, int32(H), int32(hd), int32(m.rotDims), int32(st.cache.cap)); err != nil {
				return err
			}
			window := int32(0)
			if blk.local {
				window = int32(c.WindowSize)
			}
			if err := dev.Launch("attention"+sfx, gpu.Dim3{X: len(st.p.tiles) / 3, Y: H, Z: 1}, gpu.Grid1(32*attWarps), attentionShared(hd),
				att, qkv, kc, vc, st.t, st.rowPos, int32(H), int32(hd), int32(st.cache.cap), m.scale, window); err != nil {
				return err
			}
		}
		return m.matmul(a, att, blk.dense.w, R, D, D)
	}
	mlp := func(in gpu.Ptr) func() error {
		return func() error {
			if err := m.matmul(ff, in, blk.fc1.w, R, I, D); err != nil {
				return err
			}
			n := int64(R) * int64(I)
			if err := dev.Launch("bias_act"+sfx, gpu.Grid1(gridFor(n)), gpu.Grid1(256), 0, ffa, ff, blk.fc1.b, n, int32(I), m.act); err != nil {
				return err
			}
			return m.matmul(mo, ffa, blk.fc2.w, R, D, I)
		}
	}
	n := int64(R) * int64(D)
	residual := func(att, mlp bool) func() error {
		return func() error {
			var ap, ab, mp, mb gpu.Ptr
			if att {
				ap, ab = a, blk.dense.b
			}
			if mlp {
				mp, mb = mo, blk.fc2.b
			}
			return dev.Launch("residual"+sfx, gpu.Grid1(gridFor(n)), gpu.Grid1(256), 0, st.x, ap, ab, mp, mb, n, int32(D))
		}
	}
	if parallel {
		// HF: mlp(ln2(x)) + attn(ln1(x)) + x
		steps := []func() error{norm(h1, blk.ln1, h2, blk.ln2)}
		if !zero {
			steps = append(steps, attention)
		}
		return run(append(steps, mlp(h2), residual(!zero, true))...)
	}
	// HF: x += attn(ln1(x)); x += mlp(ln2(x))
	steps := []func() error{}
	if !zero {
		steps = append(steps, norm(h1, blk.ln1, 0, layerNorm{}), attention, residual(true, false))
	}
	return run(append(steps, norm(h1, blk.ln2, 0, layerNorm{}), mlp(h1), residual(false, true))...)
}

// forward runs every block over the pass; hook (may be nil) sees the
// residual stream after the embeddings (0) and after each block but the
// last (i), in HF's hidden_states numbering.
func (m *Model) forward(ctx context.Context, ids []int32, p *pass, iv intervention.Intervention, cache *kvCache, hook func(i int, x gpu.Ptr) error) (*state, error) {
	st, err := m.start(ids, p, cache)
	if err != nil {
		return nil, err
	}
	if hook != nil {
		if err := hook(0, st.x); err != nil {
			return nil, err
		}
	}
	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := m.block(l, st, iv); err != nil {
			return nil, err
		}
		if hook != nil && l < len(m.blocks)-1 {
			if err := hook(l+1, st.x); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

// finalNorm writes lnF(x[rows[i]]) for i < k into the "hf" buffer (the
// model's dtype); rows is a device int32 list, or 0 for rows 0..k-1.
func (m *Model) finalNorm(st *state, rows gpu.Ptr, k int) (gpu.Ptr, error) {
	D := m.cfg.HiddenSize
	out, err := m.ws.get(m.dev, "hf", int64(k*D*m.dt.Size()))
	if err != nil {
		return 0, err
	}
	err = m.dev.Launch("layernorm"+m.dt.Suffix(), gpu.Grid1(k), gpu.Grid1(threadsFor(D)), 0,
		out, m.lnF.w, m.lnF.b, gpu.Ptr(0), gpu.Ptr(0), gpu.Ptr(0), st.x, rows, int32(D), float32(m.cfg.LayerNormEps))
	return out, err
}

// rowStat is what a scored or generated position needs of its logits.
type rowStat struct {
	logZ, entropy, target float32
	argmax                int32
}

// stats computes, for the given rows of the state, the final norm, the
// logits (in chunks) and each row's statistics; targets (may be nil)
// names the token whose logit is wanted.
func (m *Model) stats(ctx context.Context, st *state, rows []int32, targets []int32) ([]rowStat, error) {
	D, V := m.cfg.HiddenSize, m.cfg.VocabSize
	out := make([]rowStat, len(rows))
	chunk := min(len(rows), unembedRows)
	for c0 := 0; c0 < len(rows); c0 += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c1 := min(len(rows), c0+chunk)
		k := c1 - c0
		rp, err := m.ws.upload(m.dev, "rows", rows[c0:c1])
		if err != nil {
			return nil, err
		}
		tp := gpu.Ptr(0)
		if targets != nil {
			if tp, err = m.ws.upload(m.dev, "targets", targets[c0:c1]); err != nil {
				return nil, err
			}
		}
		hf, err := m.finalNorm(st, rp, k)
		if err != nil {
			return nil, err
		}
		logits, err := m.ws.get(m.dev, "logits", int64(k)*int64(V)*4)
		if err != nil {
			return nil, err
		}
		if err := m.matmul(logits, hf, m.unembed, k, V, D); err != nil {
			return nil, err
		}
		sp, err := m.ws.get(m.dev, "stats", int64(k*3*4))
		if err != nil {
			return nil, err
		}
		ap, err := m.ws.get(m.dev, "argmax", int64(k*4))
		if err != nil {
			return nil, err
		}
		if err := m.dev.Launch("row_stats", gpu.Grid1(k), gpu.Grid1(256), 0, logits, int32(V), tp, sp, ap); err != nil {
			return nil, err
		}
		sb := make([]byte, k*3*4)
		if err := m.dev.Download(sb, sp); err != nil {
			return nil, err
		}
		ab := make([]byte, k*4)
		if err := m.dev.Download(ab, ap); err != nil {
			return nil, err
		}
		s := bytesF32(sb)
		for i := 0; i < k; i++ {
			out[c0+i] = rowStat{logZ: s[3*i], entropy: s[3*i+1], target: s[3*i+2],
				argmax: int32(uint32(ab[4*i]) | uint32(ab[4*i+1])<<8 | uint32(ab[4*i+2])<<16 | uint32(ab[4*i+3])<<24)}
		}
	}
	return out, nil
}
