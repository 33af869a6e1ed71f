package runner

import (
	"fmt"
	"math"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// buildCellResult turns a cell's requests, answers and scores into result
// rows.
func buildCellResult(cell results.Cell, reqs []plugins.Request, s *savedCell) (results.CellResult, error) {
	if len(s.Responses) != len(reqs) {
		return results.CellResult{}, fmt.Errorf("%d answers for %d requests", len(s.Responses), len(reqs))
	}
	out := results.CellResult{Cell: cell}
	for _, m := range s.Scores.Metrics {
		out.Metrics = append(out.Metrics, results.MetricRow{Metric: m.Name, Value: m.Value, Stderr: m.Stderr, N: m.N, HigherIsBetter: m.HigherIsBetter})
	}
	for _, d := range s.Scores.Docs {
		out.Docs = append(out.Docs, results.DocRow{DocIndex: d.DocIndex, Gold: d.Gold, Prediction: d.Prediction,
			ChoiceLogLikelihoods: d.ChoiceLogLikelihoods, Metrics: d.Metrics})
	}
	out.Requests = make([]results.RequestRow, len(reqs))
	for i, rq := range reqs {
		row := results.RequestRow{DocIndex: rq.DocIndex, RequestIndex: rq.Index}
		rs := s.Responses[i]
		if rs.Kind() != rq.Kind() {
			return results.CellResult{}, fmt.Errorf("request %d (doc %d): answer of the wrong kind", i, rq.DocIndex)
		}
		row.RequestType = rq.Kind()
		switch row.RequestType {
		case plugins.KindLoglikelihood:
			row.Context, row.Continuation = rq.Loglikelihood.Context, rq.Loglikelihood.Continuation
			a := rs.Loglikelihood
			row.LogLikelihood, row.IsGreedy = a.LogLikelihood, a.IsGreedy
			row.ContextTokens, row.ContinuationTokens = a.ContextTokens, a.ContinuationTokens
		case plugins.KindLoglikelihoodRolling:
			row.Context, row.InputIDs = rq.Rolling.Text, rq.Rolling.IDs
			a := rs.Rolling
			row.LogLikelihood = a.LogLikelihood
			row.IsGreedy = len(a.Greedy) > 0
			for _, g := range a.Greedy {
				row.IsGreedy = row.IsGreedy && g
			}
			row.ContextTokens = rq.Rolling.ContextLen
			row.ContinuationTokens = len(a.LogProbs)
		case plugins.KindGenerateTokens:
			row.InputIDs = rq.Generate.Prefix
			row.LogLikelihood = math.NaN() // greedy generation reports no log-likelihood
			row.IsGreedy = true
			row.ContextTokens = len(rq.Generate.Prefix)
			row.ContinuationTokens = len(rs.Generate.IDs)
			row.GeneratedIDs = rs.Generate.IDs
		}
		out.Requests[i] = row
	}
	return out, nil
}
