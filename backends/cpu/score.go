package cpu

import (
	"context"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// Score scores the sequences teacher-forced. The last token of a sequence
// is only a target, so the forward pass runs on Tokens[:len-1] and a
// sequence may hold MaxPositions+1 tokens (lm-eval's window). The
// unembedding runs only on the rows whose next token is scored.
func (m *Model) Score(ctx context.Context, seqs []engine.Sequence, iv intervention.Intervention) ([]engine.TokenScores, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := engine.CheckIntervention(m.cfg, iv, kinds); err != nil {
		return nil, err
	}
	passes, err := engine.PlanScore(m.cfg, seqs, m.limits)
	if err != nil {
		return nil, err
	}
	out := engine.NewTokenScores(len(seqs))
	for _, p := range passes {
		hid, err := m.forward(ctx, p.IDs, p.Pass, iv, nil, nil)
		if err != nil {
			return nil, err
		}
		n := len(p.Rows)
		lp, ent, greedy := make([]float32, n), make([]float32, n), make([]bool, n)
		badRow := make([]bool, n)
		err = m.unembedRows(ctx, hid, p.Rows, func(i int, argmax int, logZ, entropy float64, z []float32) {
			t := p.Targets[i]
			lp[i] = float32(float64(z[t]) - logZ)
			ent[i] = float32(entropy)
			greedy[i] = argmax == int(t)
			badRow[i] = !finiteStats(logZ, entropy)
		})
		if err != nil {
			return nil, err
		}
		p.MarkLogits(p.Rows, p.RowSeq, badRow, len(m.blocks))
		p.Collect(out, seqs, lp, ent, greedy)
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
	if err := engine.CheckIntervention(m.cfg, iv, kinds); err != nil {
		return nil, err
	}
	T, passes, err := engine.PlanUniform(m.cfg, ids, m.limits)
	if err != nil {
		return nil, err
	}
	D, V := m.cfg.HiddenSize, m.cfg.VocabSize
	out := make([]float32, len(ids)*T*V)
	for _, p := range passes {
		hid, err := m.forward(ctx, p.IDs, p.Pass, iv, nil, nil)
		if err != nil {
			return nil, err
		}
		m.matmulT(p.Rows, V, D, hid, m.unembed, out[p.First*T*V:], V)
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
	if err := engine.CheckIntervention(m.cfg, iv, kinds); err != nil {
		return nil, err
	}
	T, passes, err := engine.PlanUniform(m.cfg, ids, m.limits)
	if err != nil {
		return nil, err
	}
	D, L := m.cfg.HiddenSize, m.cfg.NumLayers
	out := make([][]float32, L+1)
	for i := range out {
		out[i] = make([]float32, len(ids)*T*D)
	}
	for _, p := range passes {
		base := p.First * T * D
		_, err := m.forward(ctx, p.IDs, p.Pass, iv, nil, func(i int, x []float32) {
			copy(out[i][base:base+p.Rows*D], x)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
