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
	if err := engine.CheckIntervention(m.cfg, iv, kinds); err != nil {
		return nil, err
	}
	groups, err := engine.PlanGenerate(m.cfg, prefixes, newTokens, m.limits, 4)
	if err != nil {
		return nil, err
	}
	if opt.Suppress >= int32(m.cfg.VocabSize) {
		return nil, fmt.Errorf("cannot suppress token %d: the vocabulary has %d", opt.Suppress, m.cfg.VocabSize)
	}
	out := engine.NewGenerations(len(prefixes), newTokens)
	for _, g := range groups {
		if err := m.generateGroup(ctx, g, iv, opt.Suppress, out[g.First:g.First+len(g.Prefixes)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// generateGroup runs the prefill and decode steps of sequences that share
// one KV cache.
func (m *Model) generateGroup(ctx context.Context, g engine.GenerateGroup, iv intervention.Intervention, suppress int32, out []engine.Generation) error {
	cache := m.newCache(g.Caps)
	next := make([]int32, len(g.Prefixes))
	nonFinite := make([]*engine.NonFinite, len(g.Prefixes))
	for step := 0; step < g.NewTokens; step++ {
		for _, p := range g.Step(step, next) {
			sub := make(kvCache, len(cache))
			for l := range cache {
				sub[l] = cache[l][p.Lo:p.Hi]
			}
			hid, err := m.forward(ctx, p.IDs, p.Pass, iv, sub, nil)
			if err != nil {
				return err
			}
			last := p.LastRows()
			badRow := make([]bool, len(last))
			err = m.unembedRows(ctx, hid, last, func(i, argmax int, logZ, entropy float64, z []float32) {
				if suppress >= 0 {
					// -inf before the argmax, as HF's MinNewTokensLengthLogitsProcessor does to EOS.
					z[suppress] = float32(math.Inf(-1))
					argmax, logZ, entropy = engine.RowStats(z)
				}
				next[p.Lo+i] = int32(argmax)
				out[p.Lo+i].Entropies = append(out[p.Lo+i].Entropies, float32(entropy))
				badRow[i] = !finiteStats(logZ, entropy)
			})
			if err != nil {
				return err
			}
			seqOf := make([]int, len(last)) // row i is sequence i's last
			for s := range seqOf {
				seqOf[s] = s
			}
			p.MarkLogits(last, seqOf, badRow, len(m.blocks))
			for s, nf := range p.NonFinite {
				if nonFinite[p.Lo+s] == nil {
					nonFinite[p.Lo+s] = nf
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
