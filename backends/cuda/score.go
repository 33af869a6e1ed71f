package cuda

import (
	"context"
	"fmt"

	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// workspace keeps named device buffers across passes, grown on demand, so
// a request allocates only when it is bigger than every earlier one.
type workspace struct {
	bufs map[string]wsBuf
}

type wsBuf struct {
	p    gpu.Ptr
	size int64
}

func (w *workspace) get(dev gpu.Device, name string, bytes int64) (gpu.Ptr, error) {
	bytes = max(bytes, 4)
	if b, ok := w.bufs[name]; ok && b.size >= bytes {
		return b.p, nil
	} else if ok {
		if err := dev.Free(b.p); err != nil {
			return 0, err
		}
		delete(w.bufs, name)
		bytes = max(bytes, b.size+b.size/2)
	}
	p, err := dev.Alloc(bytes)
	if err != nil {
		return 0, fmt.Errorf("workspace %s (%d bytes): %w", name, bytes, err)
	}
	if w.bufs == nil {
		w.bufs = map[string]wsBuf{}
	}
	w.bufs[name] = wsBuf{p, bytes}
	return p, nil
}

// upload puts int32s into a named buffer.
func (w *workspace) upload(dev gpu.Device, name string, v []int32) (gpu.Ptr, error) {
	p, err := w.get(dev, name, int64(4*len(v)))
	if err != nil || len(v) == 0 {
		return p, err
	}
	return p, dev.Upload(p, i32Bytes(v))
}

func (w *workspace) free(dev gpu.Device) error {
	var first error
	for name, b := range w.bufs {
		if err := dev.Free(b.p); err != nil && first == nil {
			first = err
		}
		delete(w.bufs, name)
	}
	return first
}

func (m *Model) checkIntervention(iv intervention.Intervention) error {
	return engine.CheckIntervention(m.cfg, iv, intervention.AttentionKinds)
}

// Score scores the sequences teacher-forced. The forward pass runs on
// all tokens but the last; the unembedding only on scored rows.
func (m *Model) Score(ctx context.Context, seqs []engine.Sequence, iv intervention.Intervention) ([]engine.TokenScores, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := m.checkIntervention(iv); err != nil {
		return nil, err
	}
	if err := engine.CheckScore(m.cfg, seqs); err != nil {
		return nil, err
	}
	var work []int // sequences with at least one token to score
	for i, s := range seqs {
		if s.ScoreFrom < len(s.Tokens) {
			work = append(work, i)
		}
	}
	out := make([]engine.TokenScores, len(seqs))
	for i := range out {
		out[i] = engine.TokenScores{LogProbs: []float32{}, Entropies: []float32{}, Greedy: []bool{}}
	}
	sizes := make([]int, len(work))
	for k, i := range work {
		sizes[k] = len(seqs[i].Tokens) - 1
	}
	for _, g := range engine.Groups(sizes, m.maxTok) {
		n := sizes[g[0]:g[1]]
		p := newPass(n, make([]int, len(n)), 0)
		ids := make([]int32, 0, p.rows)
		var rows, targets []int32
		for s, i := range work[g[0]:g[1]] {
			seq := seqs[i]
			ids = append(ids, seq.Tokens[:len(seq.Tokens)-1]...)
			for q := seq.ScoreFrom; q < len(seq.Tokens); q++ {
				rows = append(rows, int32(p.off[s]+q-1))
				targets = append(targets, seq.Tokens[q])
			}
		}
		st, err := m.forward(ctx, ids, p, iv, nil, nil)
		if err != nil {
			return nil, err
		}
		stats, err := m.stats(ctx, st, rows, targets)
		if err != nil {
			return nil, err
		}
		k := 0
		for _, i := range work[g[0]:g[1]] {
			cnt := len(seqs[i].Tokens) - seqs[i].ScoreFrom
			ts := engine.TokenScores{LogProbs: make([]float32, cnt), Entropies: make([]float32, cnt), Greedy: make([]bool, cnt)}
			for j := 0; j < cnt; j++ {
				s := stats[k+j]
				ts.LogProbs[j] = s.target - s.logZ
				ts.Entropies[j] = s.entropy
				ts.Greedy[j] = s.argmax == targets[k+j]
			}
			out[i] = ts
			k += cnt
		}
	}
	return out, nil
}

// Logits returns float32 logits [len(ids)][T][vocab] flattened row-major,
// for sequences that all have the same length T.
func (m *Model) Logits(ctx context.Context, ids [][]int32, iv intervention.Intervention) ([]float32, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	T, err := m.checkBatch(ids, iv)
	if err != nil {
		return nil, err
	}
	D, V := m.cfg.HiddenSize, m.cfg.VocabSize
	out := make([]float32, len(ids)*T*V)
	err = m.eachEqualPass(ctx, ids, T, iv, nil, func(g0 int, p *pass, st *state) error {
		for r0 := 0; r0 < p.rows; r0 += unembedRows {
			k := min(unembedRows, p.rows-r0)
			rows := make([]int32, k)
			for i := range rows {
				rows[i] = int32(r0 + i)
			}
			rp, err := m.ws.upload(m.dev, "rows", rows)
			if err != nil {
				return err
			}
			hf, err := m.finalNorm(st, rp, k)
			if err != nil {
				return err
			}
			lp, err := m.ws.get(m.dev, "logits", int64(k)*int64(V)*4)
			if err != nil {
				return err
			}
			if err := m.matmul(lp, hf, m.unembed, k, V, D); err != nil {
				return err
			}
			b := make([]byte, k*V*4)
			if err := m.dev.Download(b, lp); err != nil {
				return err
			}
			copy(out[(g0*T+r0)*V:], bytesF32(b))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HiddenStates returns the residual stream in HF's hidden_states
// convention: L+1 arrays [len(ids)][T][D] (0 = embeddings, i = after block
// i−1 for i < L, L = after the final layer norm).
func (m *Model) HiddenStates(ctx context.Context, ids [][]int32, iv intervention.Intervention) ([][]float32, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	T, err := m.checkBatch(ids, iv)
	if err != nil {
		return nil, err
	}
	D, L := m.cfg.HiddenSize, m.cfg.NumLayers
	out := make([][]float32, L+1)
	for i := range out {
		out[i] = make([]float32, len(ids)*T*D)
	}
	hook := func(g0 int, p *pass) func(i int, x gpu.Ptr) error {
		return func(i int, x gpu.Ptr) error {
			b := make([]byte, p.rows*D*4)
			if err := m.dev.Download(b, x); err != nil {
				return err
			}
			copy(out[i][g0*T*D:], bytesF32(b))
			return nil
		}
	}
	err = m.eachEqualPass(ctx, ids, T, iv, hook, func(g0 int, p *pass, st *state) error {
		hf, err := m.finalNorm(st, 0, p.rows)
		if err != nil {
			return err
		}
		b := make([]byte, p.rows*D*m.dt.Size())
		if err := m.dev.Download(b, hf); err != nil {
			return err
		}
		copy(out[L][g0*T*D:], decode(b, m.dt))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Model) checkBatch(ids [][]int32, iv intervention.Intervention) (int, error) {
	if err := m.checkIntervention(iv); err != nil {
		return 0, err
	}
	return engine.CheckBatch(m.cfg, ids)
}

// eachEqualPass runs sequences of equal length T through the model in
// passes within the token budget and calls done with each pass's first
// sequence, its rows and its final state; hook (may be nil) makes each
// pass's hidden-state hook.
func (m *Model) eachEqualPass(ctx context.Context, ids [][]int32, T int, iv intervention.Intervention,
	hook func(g0 int, p *pass) func(int, gpu.Ptr) error, done func(g0 int, p *pass, st *state) error) error {
	for _, g := range engine.Groups(repeat(T, len(ids)), m.maxTok) {
		p := newPass(repeat(T, g[1]-g[0]), make([]int, g[1]-g[0]), 0)
		var h func(int, gpu.Ptr) error
		if hook != nil {
			h = hook(g[0], p)
		}
		st, err := m.forward(ctx, flatten(ids[g[0]:g[1]]), p, iv, nil, h)
		if err != nil {
			return err
		}
		if err := done(g[0], p, st); err != nil {
			return err
		}
	}
	return nil
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func flatten(ids [][]int32) []int32 {
	var out []int32
	for _, s := range ids {
		out = append(out, s...)
	}
	return out
}

// Generate continues each prefix by newTokens greedy tokens (argmax, ties
// to the lowest id) with a KV cache on the device: one prefill pass, then
// one token per step. The intervention applies in prefill and in every
// decode step.
func (m *Model) Generate(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention) ([]engine.Generation, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := m.checkIntervention(iv); err != nil {
		return nil, err
	}
	if err := engine.CheckGenerate(m.cfg, prefixes, newTokens); err != nil {
		return nil, err
	}
	out := make([]engine.Generation, len(prefixes))
	for i := range out {
		out[i] = engine.Generation{IDs: make([]int32, 0, newTokens), Entropies: make([]float32, 0, newTokens)}
	}
	if newTokens == 0 {
		return out, nil
	}
	sizes := make([]int, len(prefixes))
	longest := 0
	for i, pre := range prefixes {
		sizes[i] = len(pre) + newTokens - 1 // the last new token is never fed back
		longest = max(longest, sizes[i])
	}
	// Sequences decode together as long as their caches (each as long as
	// the longest of the group) fit the budget.
	perToken := int64(len(m.blocks)) * 2 * int64(m.cfg.HiddenSize) * 4
	budget := int(max(1, m.maxKV/(perToken*int64(longest))))
	for start := 0; start < len(prefixes); start += budget {
		end := min(len(prefixes), start+budget)
		if err := m.generateGroup(ctx, prefixes[start:end], newTokens, iv, out[start:end]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (m *Model) generateGroup(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention, out []engine.Generation) error {
	B := len(prefixes)
	capLen := 0
	for _, pre := range prefixes {
		capLen = max(capLen, len(pre)+newTokens-1)
	}
	cache, err := m.newCache(B, max(1, capLen))
	if err != nil {
		return err
	}
	defer m.freeCache(cache)
	next := make([]int32, B)
	for step := 0; step < newTokens; step++ {
		sizes := make([]int, B)
		for s, pre := range prefixes {
			sizes[s] = 1
			if step == 0 {
				sizes[s] = len(pre)
			}
		}
		for _, c := range engine.Groups(sizes, m.maxTok) {
			a, b := c[0], c[1]
			n, pos0 := sizes[a:b], make([]int, b-a)
			var ids []int32
			for s := a; s < b; s++ {
				if step == 0 {
					ids = append(ids, prefixes[s]...)
				} else {
					pos0[s-a] = len(prefixes[s]) + step - 1
					ids = append(ids, next[s])
				}
			}
			p := newPass(n, pos0, a)
			st, err := m.forward(ctx, ids, p, iv, cache, nil)
			if err != nil {
				return err
			}
			last := make([]int32, b-a)
			for s := range last {
				last[s] = int32(p.off[s] + n[s] - 1)
			}
			stats, err := m.stats(ctx, st, last, nil)
			if err != nil {
				return err
			}
			for i, s := range stats {
				next[a+i] = s.argmax
				out[a+i].Entropies = append(out[a+i].Entropies, s.entropy)
			}
		}
		for s := range out {
			out[s].IDs = append(out[s].IDs, next[s])
		}
	}
	return nil
}
