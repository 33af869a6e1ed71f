package cpu

import (
	"context"
	"fmt"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/intervention"
)

// Generate continues each prefix by newTokens greedy tokens (argmax, ties
// to the lowest id) with a KV cache: one prefill pass, then one token per
// step. Prefixes may have different lengths. The intervention applies in
// prefill and in every decode step (a short-circuited block lets the new
// token attend only to itself).
func (m *Model) Generate(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention) ([]engine.Generation, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := m.checkIntervention(iv); err != nil {
		return nil, err
	}
	if newTokens < 0 {
		return nil, fmt.Errorf("cannot generate %d tokens", newTokens)
	}
	sizes := make([]int, len(prefixes))
	for i, pre := range prefixes {
		if len(pre) == 0 {
			return nil, fmt.Errorf("prefix %d is empty; greedy generation needs at least one token", i)
		}
		if len(pre)+newTokens > m.cfg.MaxPositions {
			return nil, fmt.Errorf("prefix %d: %d tokens + %d new is more than the model's %d positions (max_position_embeddings)", i, len(pre), newTokens, m.cfg.MaxPositions)
		}
		if err := m.checkTokens(i, pre); err != nil {
			return nil, err
		}
		sizes[i] = len(pre) + newTokens
	}
	out := make([]engine.Generation, len(prefixes))
	for i := range out {
		out[i] = engine.Generation{IDs: make([]int32, 0, newTokens), Entropies: make([]float32, 0, newTokens)}
	}
	if newTokens == 0 {
		return out, nil
	}
	for _, g := range m.groups(sizes) {
		if err := m.generateGroup(ctx, prefixes[g[0]:g[1]], newTokens, iv, out[g[0]:g[1]]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (m *Model) generateGroup(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention, out []engine.Generation) error {
	B := len(prefixes)
	n := make([]int, B)
	caps := make([]int, B)
	for s, pre := range prefixes {
		n[s] = len(pre)
		caps[s] = len(pre) + newTokens - 1 // the last new token is never fed back
	}
	cache := m.newCache(caps)
	p := newPass(n, make([]int, B))
	ids := flatten(prefixes)
	last := make([]int, B)
	for s := range last {
		last[s] = p.off[s] + n[s] - 1
	}
	next := make([]int32, B)
	ent := make([]float32, B)
	pick := func(i, argmax int, _, entropy float64, _ []float32) {
		next[i] = int32(argmax)
		ent[i] = float32(entropy)
	}
	for step := 0; step < newTokens; step++ {
		if step > 0 {
			// Feed each sequence its last token at its next position.
			for s := range n {
				n[s], p.pos0[s] = 1, len(prefixes[s])+step-1
			}
			p = newPass(n, p.pos0)
			ids = append(ids[:0], next...)
			for s := range last {
				last[s] = s
			}
		}
		hid, err := m.forward(ctx, ids, p, iv, cache, nil)
		if err != nil {
			return err
		}
		if err := m.unembedRows(ctx, hid, last, pick); err != nil {
			return err
		}
		for s := range out {
			out[s].IDs = append(out[s].IDs, next[s])
			out[s].Entropies = append(out[s].Entropies, ent[s])
		}
	}
	return nil
}
