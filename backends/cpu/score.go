package cpu

import (
	"context"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// groups splits sequences of the given sizes, in order, into runs whose
// total stays within the token budget (a larger single one runs alone).
func (m *Model) groups(sizes []int) [][2]int { return engine.Groups(sizes, m.maxTok) }

// Score scores the sequences teacher-forced. The last token of a sequence
// is only a target, so the forward pass runs on Tokens[:len-1] and a
// sequence may hold MaxPositions+1 tokens (lm-eval's window). The
// unembedding runs only on the rows whose next token is scored.
func (m *Model) Score(ctx context.Context, seqs []engine.Sequence, iv intervention.Intervention) ([]engine.TokenScores, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := engine.CheckIntervention("cpu", m.cfg, iv); err != nil {
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
	sizes := make([]int, len(work)) // input rows: every token but the last
	for k, i := range work {
		sizes[k] = len(seqs[i].Tokens) - 1
	}
	for _, g := range m.groups(sizes) {
		n := sizes[g[0]:g[1]]
		p := newPass(n, make([]int, len(n)))
		ids := make([]int32, 0, p.rows)
		var rows, targets, rowSeq []int
		for s, i := range work[g[0]:g[1]] {
			seq := seqs[i]
			ids = append(ids, seq.Tokens[:len(seq.Tokens)-1]...)
			for q := seq.ScoreFrom; q < len(seq.Tokens); q++ {
				rows = append(rows, p.off[s]+q-1)
				targets = append(targets, int(seq.Tokens[q]))
				rowSeq = append(rowSeq, s)
			}
		}
		hid, err := m.forward(ctx, ids, p, iv, nil, nil)
		if err != nil {
			return nil, err
		}
		lp, ent, greedy := make([]float32, len(rows)), make([]float32, len(rows)), make([]bool, len(rows))
		badRow := make([]bool, len(rows))
		err = m.unembedRows(ctx, hid, rows, func(i int, argmax int, logZ, entropy float64, z []float32) {
			t := targets[i]
			lp[i] = float32(float64(z[t]) - logZ)
			ent[i] = float32(entropy)
			greedy[i] = argmax == t
			badRow[i] = !finiteStats(logZ, entropy)
		})
		if err != nil {
			return nil, err
		}
		markLogits(p, rows, rowSeq, badRow, len(m.blocks))
		k := 0
		for s, i := range work[g[0]:g[1]] {
			cnt := len(seqs[i].Tokens) - seqs[i].ScoreFrom
			out[i] = engine.TokenScores{
				LogProbs:  lp[k : k+cnt : k+cnt],
				Entropies: ent[k : k+cnt : k+cnt],
				Greedy:    greedy[k : k+cnt : k+cnt],
				NonFinite: p.nonFinite[s],
			}
			k += cnt
		}
	}
	return out, nil
}

// unembedRows computes the logits of the chosen rows of hid ([rows, D]),
// a chunk at a time, and calls f with each row's statistics (f runs on
// several goroutines, for distinct i).
func (m *Model) unembedRows(ctx context.Context, hid []float32, rows []int, f func(i, argmax int, logZ, entropy float64, z []float32)) error {
	D, V := m.cfg.HiddenSize, m.cfg.VocabSize
	chunk := min(len(rows), unembedRows)
	gathered := make([]float32, chunk*D)
	logits := make([]float32, chunk*V)
	for c0 := 0; c0 < len(rows); c0 += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		c1 := min(len(rows), c0+chunk)
		k := c1 - c0
		for i := 0; i < k; i++ {
			r := rows[c0+i]
			copy(gathered[i*D:(i+1)*D], hid[r*D:(r+1)*D])
		}
		m.matmulT(k, V, D, gathered, m.unembed, logits, V)
		m.parallel(k, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				z := logits[i*V : (i+1)*V]
				am, lz, e := logitStats(z)
				f(c0+i, am, lz, e, z)
			}
		})
	}
	return nil
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
	V := m.cfg.VocabSize
	out := make([]float32, len(ids)*T*V)
	sizes := make([]int, len(ids))
	for i := range sizes {
		sizes[i] = T
	}
	for _, g := range m.groups(sizes) {
		p := newPass(sizes[g[0]:g[1]], make([]int, g[1]-g[0]))
		hid, err := m.forward(ctx, flatten(ids[g[0]:g[1]]), p, iv, nil, nil)
		if err != nil {
			return nil, err
		}
		D := m.cfg.HiddenSize
		m.matmulT(p.rows, V, D, hid, m.unembed, out[g[0]*T*V:], V)
	}
	return out, nil
}

// HiddenStates returns the residual stream in HF's hidden_states
// convention: L+1 arrays [len(ids)][T][D] (0 = embeddings, i = after block
// i−1 for i < L, L = after the final layer norm), for sequences that all
// have the same length T.
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
	sizes := make([]int, len(ids))
	for i := range sizes {
		sizes[i] = T
	}
	for _, g := range m.groups(sizes) {
		p := newPass(sizes[g[0]:g[1]], make([]int, g[1]-g[0]))
		base := g[0] * T * D
		_, err := m.forward(ctx, flatten(ids[g[0]:g[1]]), p, iv, nil, func(i int, x []float32) {
			copy(out[i][base:base+p.rows*D], x)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkBatch validates a batch of equal-length sequences.
func (m *Model) checkBatch(ids [][]int32, iv intervention.Intervention) (int, error) {
	if err := engine.CheckIntervention("cpu", m.cfg, iv); err != nil {
		return 0, err
	}
	return engine.CheckBatch(m.cfg, ids)
}

func flatten(ids [][]int32) []int32 {
	var out []int32
	for _, s := range ids {
		out = append(out, s...)
	}
	return out
}
