package cpu

import (
	"sync/atomic"

	"github.com/memscope/memscope/backends/engine"
)

// checkFinite records, for each sequence of the pass that has not gone
// non-finite yet, the first of its rows of x ([rows, width]) holding NaN
// or ±Inf (engine.NonFinite). The common all-finite case costs one
// vectorized pass over x, split over the threads.
func (m *Model) checkFinite(x []float32, width int, p pass, block int, part string) {
	n := p.rows * width
	var bad atomic.Bool
	m.parallel(n, 1<<16, func(lo, hi int) {
		if !allFinite(x[lo:hi]) {
			bad.Store(true)
		}
	})
	if !bad.Load() {
		return
	}
	for s, k := range p.n {
		if p.nonFinite[s] != nil {
			continue
		}
		for i := 0; i < k; i++ {
			r := p.off[s] + i
			if !allFinite(x[r*width : (r+1)*width]) {
				p.nonFinite[s] = &engine.NonFinite{Block: block, Part: part, Position: p.pos0[s] + i}
				break
			}
		}
	}
}

// finiteStats reports whether a logits row's statistics are finite (a
// finite log Z and entropy: the row held no NaN or +Inf).
func finiteStats(logZ, entropy float64) bool {
	return logZ-logZ == 0 && entropy-entropy == 0
}

// markLogits records the logits as where a sequence went non-finite when
// one of its unembedded rows (rows[i], of sequence rowSeq[i]) had
// non-finite statistics and nothing before the logits was.
func markLogits(p pass, rows, rowSeq []int, badRow []bool, blocks int) {
	for i, bad := range badRow {
		if s := rowSeq[i]; bad && p.nonFinite[s] == nil {
			p.nonFinite[s] = &engine.NonFinite{Block: blocks, Part: engine.PartLogits, Position: p.posOf[rows[i]]}
		}
	}
}
