package taskkit

import (
	"fmt"

	"github.com/memscope/memscope/plugins"
)

// CheckExchange verifies that Score got exactly the requests the task makes
// for these options, and one response of the matching kind for each.
func CheckExchange(task string, want, reqs []plugins.Request, resps []plugins.Response) error {
	if len(reqs) != len(want) {
		return fmt.Errorf("%s: score got %d requests, but these options make %d (score with the same options as the requests)", task, len(reqs), len(want))
	}
	if len(resps) != len(reqs) {
		return fmt.Errorf("%s: score got %d responses for %d requests", task, len(resps), len(reqs))
	}
	for i := range reqs {
		if !sameRequest(reqs[i], want[i]) {
			return fmt.Errorf("%s: request %d (doc %d, index %d) is not the request these options make for that position (score with the same options and data as the requests)",
				task, i, reqs[i].DocIndex, reqs[i].Index)
		}
		if rk, pk := reqs[i].Kind(), resps[i].Kind(); rk != pk {
			return fmt.Errorf("%s: response %d (doc %d, index %d): want a %s result, got %s", task, i, reqs[i].DocIndex, reqs[i].Index, rk, pk)
		}
	}
	return nil
}

func sameRequest(a, b plugins.Request) bool {
	if a.DocIndex != b.DocIndex || a.Index != b.Index || a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case plugins.KindLoglikelihood:
		return *a.Loglikelihood == *b.Loglikelihood
	case plugins.KindLoglikelihoodRolling:
		return a.Rolling.Text == b.Rolling.Text && a.Rolling.ContextLen == b.Rolling.ContextLen && equalIDs(a.Rolling.IDs, b.Rolling.IDs)
	case plugins.KindGenerateTokens:
		return a.Generate.NewTokens == b.Generate.NewTokens && a.Generate.SuppressEOS == b.Generate.SuppressEOS && equalIDs(a.Generate.Prefix, b.Generate.Prefix)
	}
	return true
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
