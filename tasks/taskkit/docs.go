package taskkit

import (
	"fmt"

	"github.com/memscope/memscope/plugins"
)

// SelectDocs applies the document ranges (inclusive, unioned, ascending)
// and then the limit to a dataset of n documents, and returns the selected
// document indices. Ranges past the end are clipped; a selection that keeps
// nothing is an error, so a typo does not silently score zero documents.
func SelectDocs(task string, n int, opts plugins.TaskOptions) ([]int, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("%s: limit %d is negative", task, opts.Limit)
	}
	keep := make([]bool, n)
	if len(opts.Docs) == 0 {
		for i := range keep {
			keep[i] = true
		}
	}
	for _, r := range opts.Docs {
		if r.First < 0 || r.Last < r.First {
			return nil, fmt.Errorf("%s: bad document range %d-%d (want 0 <= first <= last)", task, r.First, r.Last)
		}
		for i := r.First; i <= r.Last && i < n; i++ {
			keep[i] = true
		}
	}
	var out []int
	for i, k := range keep {
		if !k {
			continue
		}
		if opts.Limit > 0 && len(out) == opts.Limit {
			break
		}
		out = append(out, i)
	}
	if len(out) == 0 {
		if n == 0 {
			return nil, fmt.Errorf("%s: the data has no documents", task)
		}
		return nil, fmt.Errorf("%s: no documents selected: the data has %d documents (0-%d)", task, n, n-1)
	}
	return out, nil
}
