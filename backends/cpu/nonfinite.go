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
	n := p.Rows * width
	var bad atomic.Bool
	m.parallel(n, 1<<16, func(lo, hi int) {
		if !allFinite(x[lo:hi]) {
			bad.Store(true)
		}
	})
	if !bad.Load() {
		return
	}
	for s, k := range p.N {
		if p.NonFinite[s] != nil {
			continue
		}
		for i := 0; i < k; i++ {
			r := p.Off[s] + i
			if !allFinite(x[r*width : (r+1)*width]) {
				p.NonFinite[s] = &engine.NonFinite{Block: block, Part: part, Position: p.Pos0[s] + i}
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
