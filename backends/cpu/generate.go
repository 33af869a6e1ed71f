package cpu

import (
	"context"
	"fmt"
	"math"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// Generate continues each prefix by newTokens greedy tokens (argmax, ties
// to the lowest id) with a KV cache: one prefill pass, then one token per
// step. Prefixes may have different lengths. The intervention applies in
// prefill and in every decode step (a short-circuited block lets the new
// token attend only to itself).
func (m *Model) Generate(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention) ([]engine.Generation, error) {
	return m.GenerateWith(ctx, prefixes, newTokens, iv, engine.GenerateOptions{Suppress: -1})
}

// GenerateWith is Generate with options (engine.OptionsGenerator): a
// suppressed token's logit is -inf before each step's argmax and entropy.
func (m *Model) GenerateWith(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention, opt engine.GenerateOptions) ([]engine.Generation, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if err := engine.CheckIntervention("cpu", m.cfg, iv); err != nil {
		return nil, err
	}
	if err := engine.CheckGenerate(m.cfg, prefixes, newTokens); err != nil {
		return nil, err
	}
	if opt.Suppress >= int32(m.cfg.VocabSize) {
		return nil, fmt.Errorf("cannot suppress token %d: the vocabulary has %d", opt.Suppress, m.cfg.VocabSize)
	}
	sizes := make([]int, len(prefixes))
	for i, pre := range prefixes {
		sizes[i] = len(pre) + newTokens
	}
	out := make([]engine.Generation, len(prefixes))
	for i := range out {
		out[i] = engine.Generation{IDs: make([]int32, 0, newTokens), Entropies: make([]float32, 0, newTokens)}
	}
	if newTokens == 0 {
		return out, nil
	}
	// Sequences decode together as long as their KV caches fit the budget.
	perToken := int64(len(m.blocks)) * 2 * int64(m.cfg.HiddenSize) * 4
	budget := int(max(1, m.maxKV/perToken))
	for _, g := range engine.Groups(sizes, budget) {
		if err := m.generateGroup(ctx, prefixes[g[0]:g[1]], newTokens, iv, opt.Suppress, out[g[0]:g[1]]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// generateGroup runs prefill and decode steps for sequences that share one
// KV cache; each forward pass takes at most maxTok tokens.
func (m *Model) generateGroup(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention, suppress int32, out []engine.Generation) error {
	B := len(prefixes)
	caps := make([]int, B)
	for s, pre := range prefixes {
		caps[s] = len(pre) + newTokens - 1 // the last new token is never fed back
	}
	cache := m.newCache(caps)
	next := make([]int32, B)
	nonFinite := make([]*engine.NonFinite, B)
	for step := 0; step < newTokens; step++ {
		// Prefill feeds each prefix; a decode step feeds each sequence its
		// last token at its next position.
		sizes := make([]int, B)
		for s, pre := range prefixes {
			sizes[s] = 1
			if step == 0 {
				sizes[s] = len(pre)
			}
		}
		for _, c := range m.groups(sizes) {
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
			p := newPass(n, pos0)
			sub := make(kvCache, len(cache))
			for l := range cache {
				sub[l] = cache[l][a:b]
			}
			hid, err := m.forward(ctx, ids, p, iv, sub, nil)
			if err != nil {
				return err
			}
			last := make([]int, b-a)
			seqOf := make([]int, b-a)
			for s := range last {
				last[s] = p.off[s] + n[s] - 1
				seqOf[s] = s
			}
			badRow := make([]bool, b-a)
			err = m.unembedRows(ctx, hid, last, func(i, argmax int, logZ, entropy float64, z []float32) {
				if suppress >= 0 {
					// -inf before the argmax, as HF's MinNewTokensLengthLogitsProcessor does to EOS.
					z[suppress] = float32(math.Inf(-1))
					argmax, logZ, entropy = engine.RowStats(z)
				}
				next[a+i] = int32(argmax)
				out[a+i].Entropies = append(out[a+i].Entropies, float32(entropy))
				badRow[i] = !finiteStats(logZ, entropy)
			})
			if err != nil {
				return err
			}
			markLogits(p, last, seqOf, badRow, len(m.blocks))
			for s, nf := range p.nonFinite {
				if nonFinite[a+s] == nil {
					nonFinite[a+s] = nf
				}
			}
		}
		for s := range out {
			out[s].IDs = append(out[s].IDs, next[s])
		}
	}
	for s := range out {
		out[s].NonFinite = nonFinite[s]
	}
	return nil
}
