package engine

import (
	"github.com/memscope/memscope/backends/modelconfig"
)

// Pass is one forward pass over packed rows: no padding; sequence s of the
// pass owns rows [Off[s], Off[s]+N[s]) of every activation matrix, and its
// first row sits at position Pos0[s] (the length of its KV cache before
// the pass). Only attention mixes rows, and it stays inside each
// sequence's rows, so a sequence gets the same numbers whatever else is in
// the pass.
type Pass struct {
	N, Off, Pos0 []int
	Rows         int
	PosOf        []int   // position of each row
	IDs          []int32 // input token of each row
	// NonFinite is where each sequence of the pass first went NaN or ±Inf
	// (nil: not), filled in by the engine as it computes (numerics.go).
	NonFinite []*NonFinite
}

// NewPass lays out sequences of n[s] new rows starting at positions
// pos0[s]; IDs is left for the caller.
func NewPass(n, pos0 []int) Pass {
	p := Pass{N: n, Pos0: pos0, Off: make([]int, len(n)), NonFinite: make([]*NonFinite, len(n))}
	for s, k := range n {
		p.Off[s] = p.Rows
		p.Rows += k
	}
	p.PosOf = make([]int, p.Rows)
	for s, k := range n {
		for i := 0; i < k; i++ {
			p.PosOf[p.Off[s]+i] = pos0[s] + i
		}
	}
	return p
}

// LastRows is the last row of each sequence: the rows a decode step
// unembeds.
func (p Pass) LastRows() []int {
	out := make([]int, len(p.N))
	for s := range out {
		out[s] = p.Off[s] + p.N[s] - 1
	}
	return out
}

// MarkLogits records the logits as where a sequence went non-finite when
// one of its unembedded rows (rows[i], of the pass's sequence rowSeq[i])
// had non-finite statistics (bad[i]) and nothing before the logits was;
// blocks is the model's number of blocks.
func (p Pass) MarkLogits(rows, rowSeq []int, bad []bool, blocks int) {
	for i, b := range bad {
		if s := rowSeq[i]; b && p.NonFinite[s] == nil {
			p.NonFinite[s] = &NonFinite{Block: blocks, Part: PartLogits, Position: p.PosOf[rows[i]]}
		}
	}
}

// Groups splits sequences of the given sizes, in order, into runs whose
// total stays within budget (a larger single one runs alone): [lo, hi)
// index pairs.
func Groups(sizes []int, budget int) [][2]int {
	var out [][2]int
	start, sum := 0, 0
	for i, n := range sizes {
		if i > start && sum+n > budget {
			out = append(out, [2]int{start, i})
			start, sum = i, 0
		}
		sum += n
	}
	if start < len(sizes) {
		out = append(out, [2]int{start, len(sizes)})
	}
	return out
}

// ScorePass is one forward pass of a Score call.
type ScorePass struct {
	Pass
	Seqs    []int   // the request's index of each sequence in the pass
	Rows    []int   // rows whose next-token distribution is scored, in order
	RowSeq  []int   // the pass's sequence (index into Seqs) of each of Rows
	Targets []int32 // the token each of Rows is scored against
}

// PlanScore validates a Score call and splits it into passes of at most
// lim.MaxBatchTokens input rows. A sequence's inputs are every token but
// the last (which is only a target); sequences with nothing to score get
// no rows. Run each pass, compute the statistics of Rows against Targets
// and hand them to Collect.
func PlanScore(cfg modelconfig.Config, seqs []Sequence, lim Limits) ([]ScorePass, error) {
	lim = lim.WithDefaults()
	if err := CheckScore(cfg, seqs); err != nil {
		return nil, err
	}
	var work []int // sequences with at least one token to score
	for i, s := range seqs {
		if s.ScoreFrom < len(s.Tokens) {
			work = append(work, i)
		}
	}
	sizes := make([]int, len(work))
	for k, i := range work {
		sizes[k] = len(seqs[i].Tokens) - 1
	}
	var out []ScorePass
	for _, g := range Groups(sizes, lim.MaxBatchTokens) {
		n := sizes[g[0]:g[1]]
		p := ScorePass{Pass: NewPass(n, make([]int, len(n))), Seqs: work[g[0]:g[1]]}
		p.IDs = make([]int32, 0, p.Pass.Rows)
		for s, i := range p.Seqs {
			seq := seqs[i]
			p.IDs = append(p.IDs, seq.Tokens[:len(seq.Tokens)-1]...)
			for q := seq.ScoreFrom; q < len(seq.Tokens); q++ {
				p.Rows = append(p.Rows, p.Off[s]+q-1)
				p.RowSeq = append(p.RowSeq, s)
				p.Targets = append(p.Targets, seq.Tokens[q])
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// NewTokenScores returns n results with empty (not nil) slices: what a
// sequence with nothing to score gets.
func NewTokenScores(n int) []TokenScores {
	out := make([]TokenScores, n)
	for i := range out {
		out[i] = TokenScores{LogProbs: []float32{}, Entropies: []float32{}, Greedy: []bool{}}
	}
	return out
}

// Collect puts a pass's statistics of its Rows (log-probability of the
// target, entropy, whether the target is the argmax; in Rows order) into
// out, one TokenScores per request sequence, with where each went
// non-finite (NonFinite: mark the logits with MarkLogits first).
func (p ScorePass) Collect(out []TokenScores, seqs []Sequence, logProbs, entropies []float32, greedy []bool) {
	k := 0
	for s, i := range p.Seqs {
		n := len(seqs[i].Tokens) - seqs[i].ScoreFrom
		out[i] = TokenScores{
			LogProbs:  logProbs[k : k+n : k+n],
			Entropies: entropies[k : k+n : k+n],
			Greedy:    greedy[k : k+n : k+n],
			NonFinite: p.NonFinite[s],
		}
		k += n
	}
}

// UniformPass is one forward pass of a Logits or hidden-states call:
// sequences [First, First+len(N)) of the request, all of length T.
type UniformPass struct {
	Pass
	First int
}

// PlanUniform validates a batch of equal-length sequences (Logits, hidden
// states) and splits it into passes of at most lim.MaxBatchTokens rows.
// It returns the length T (0 for an empty batch).
func PlanUniform(cfg modelconfig.Config, ids [][]int32, lim Limits) (int, []UniformPass, error) {
	lim = lim.WithDefaults()
	T, err := CheckBatch(cfg, ids)
	if err != nil || T == 0 {
		return T, nil, err
	}
	sizes := make([]int, len(ids))
	for i := range sizes {
		sizes[i] = T
	}
	var out []UniformPass
	for _, g := range Groups(sizes, lim.MaxBatchTokens) {
		p := UniformPass{Pass: NewPass(sizes[g[0]:g[1]], make([]int, g[1]-g[0])), First: g[0]}
		p.IDs = make([]int32, 0, p.Pass.Rows)
		for _, s := range ids[g[0]:g[1]] {
			p.IDs = append(p.IDs, s...)
		}
		out = append(out, p)
	}
	return T, out, nil
}

// GenerateGroup is a run of prefixes that are generated together and
// share one KV cache.
type GenerateGroup struct {
	First     int       // the request's index of its first prefix
	Prefixes  [][]int32 // its prefixes
	NewTokens int
	// Caps is the KV-cache length each sequence needs: prefix + new
	// tokens − 1 (the last new token is never fed back).
	Caps []int
	lim  Limits
}

// PlanGenerate validates a Generate call and groups its prefixes so that
// each group's KV cache (bytesPerValue per cached value: 4 for float32)
// stays within lim.MaxCacheBytes.
func PlanGenerate(cfg modelconfig.Config, prefixes [][]int32, newTokens int, lim Limits, bytesPerValue int) ([]GenerateGroup, error) {
	lim = lim.WithDefaults()
	if err := CheckGenerate(cfg, prefixes, newTokens); err != nil {
		return nil, err
	}
	sizes := make([]int, len(prefixes))
	for i, pre := range prefixes {
		sizes[i] = len(pre) + newTokens
	}
	if newTokens == 0 {
		return nil, nil
	}
	perToken := int64(cfg.NumLayers) * 2 * int64(cfg.HiddenSize) * int64(bytesPerValue) // a key and a value per layer
	budget := int(max(1, lim.MaxCacheBytes/perToken))
	var out []GenerateGroup
	for _, g := range Groups(sizes, budget) {
		gg := GenerateGroup{First: g[0], Prefixes: prefixes[g[0]:g[1]], NewTokens: newTokens, lim: lim}
		gg.Caps = make([]int, len(gg.Prefixes))
		for s, pre := range gg.Prefixes {
			gg.Caps[s] = len(pre) + newTokens - 1
		}
		out = append(out, gg)
	}
	return out, nil
}

// NewGenerations returns n empty results with room for newTokens each.
func NewGenerations(n, newTokens int) []Generation {
	out := make([]Generation, n)
	for i := range out {
		out[i] = Generation{IDs: make([]int32, 0, newTokens), Entropies: make([]float32, 0, newTokens)}
	}
	return out
}

// StepPass is one forward pass of a decode step: sequences [Lo, Hi) of the
// group (cache slots Lo..Hi-1).
type StepPass struct {
	Pass
	Lo, Hi int
}

// Step returns the passes of decode step step (0 is the prefill) within
// the token budget: the prefill feeds each prefix from position 0; a later
// step feeds each sequence next[s], the token it chose last, at position
// len(prefix)+step−1. Unembed each pass's LastRows to choose the next
// tokens.
func (g GenerateGroup) Step(step int, next []int32) []StepPass {
	sizes := make([]int, len(g.Prefixes))
	for s, pre := range g.Prefixes {
		sizes[s] = 1
		if step == 0 {
			sizes[s] = len(pre)
		}
	}
	var out []StepPass
	for _, c := range Groups(sizes, g.lim.MaxBatchTokens) {
		a, b := c[0], c[1]
		pos0 := make([]int, b-a)
		var ids []int32
		for s := a; s < b; s++ {
			if step == 0 {
				ids = append(ids, g.Prefixes[s]...)
			} else {
				pos0[s-a] = len(g.Prefixes[s]) + step - 1
				ids = append(ids, next[s])
			}
		}
		p := StepPass{Pass: NewPass(sizes[a:b], pos0), Lo: a, Hi: b}
		p.IDs = ids
		out = append(out, p)
	}
	return out
}
