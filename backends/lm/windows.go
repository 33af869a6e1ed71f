package lm

import "github.com/memscope/memscope/backends/engine"

// rollingWindows splits the scoring of ids[scoreFrom:] into sequences the
// model can take: each sequence has at most maxLen input tokens (plus the
// final target), scores at most maxLen tokens, and gives every scored
// token as much preceding context as fits. With ids = [EOT] + text ids and
// scoreFrom = 1 this reproduces lm-evaluation-harness's
// get_rolling_token_windows(context_len=1) followed by
// make_disjoint_window: the first window predicts up to maxLen tokens from
// the prefix token, each later window predicts the next maxLen tokens
// with a full maxLen-token context.
func rollingWindows(ids []int32, scoreFrom, maxLen int) []engine.Sequence {
	var out []engine.Sequence
	for predicted := scoreFrom; predicted < len(ids); {
		end := min(len(ids), predicted+maxLen)
		start := max(0, end-maxLen-1)
		out = append(out, engine.Sequence{Tokens: ids[start:end], ScoreFrom: predicted - start})
		predicted = end
	}
	return out
}

// pairSequence is lm-eval's _loglikelihood_tokens input for one pair:
// (context + continuation)[-(maxLen+1):], scoring the continuation.
func pairSequence(p encodedPair, maxLen int) engine.Sequence {
	all := make([]int32, 0, len(p.context)+len(p.continuation))
	all = append(all, p.context...)
	all = append(all, p.continuation...)
	if len(all) > maxLen+1 {
		all = all[len(all)-maxLen-1:]
	}
	return engine.Sequence{Tokens: all, ScoreFrom: len(all) - len(p.continuation)}
}
