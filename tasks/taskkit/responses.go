package taskkit

import (
	"fmt"

	"github.com/memscope/memscope/plugins"
)

// RequestKind names the kind of a request ("loglikelihood", "rolling",
// "generate", or "empty").
func RequestKind(r plugins.Request) string {
	n, kind := 0, "empty"
	if r.Loglikelihood != nil {
		n, kind = n+1, "loglikelihood"
	}
	if r.Rolling != nil {
		n, kind = n+1, "rolling"
	}
	if r.Generate != nil {
		n, kind = n+1, "generate"
	}
	if n > 1 {
		return "several"
	}
	return kind
}

// ResponseKind names the kind of a response, like RequestKind.
func ResponseKind(r plugins.Response) string {
	n, kind := 0, "empty"
	if r.Loglikelihood != nil {
		n, kind = n+1, "loglikelihood"
	}
	if r.Rolling != nil {
		n, kind = n+1, "rolling"
	}
	if r.Generate != nil {
		n, kind = n+1, "generate"
	}
	if n > 1 {
		return "several"
	}
	return kind
}

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
		if rk, pk := RequestKind(reqs[i]), ResponseKind(resps[i]); rk != pk {
			return fmt.Errorf("%s: response %d (doc %d, index %d): want a %s result, got %s", task, i, reqs[i].DocIndex, reqs[i].Index, rk, pk)
		}
	}
	return nil
}

func sameRequest(a, b plugins.Request) bool {
	if a.DocIndex != b.DocIndex || a.Index != b.Index || RequestKind(a) != RequestKind(b) {
		return false
	}
	switch {
	case a.Loglikelihood != nil:
		return *a.Loglikelihood == *b.Loglikelihood
	case a.Rolling != nil:
		return a.Rolling.Text == b.Rolling.Text && a.Rolling.ContextLen == b.Rolling.ContextLen && equalIDs(a.Rolling.IDs, b.Rolling.IDs)
	case a.Generate != nil:
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
