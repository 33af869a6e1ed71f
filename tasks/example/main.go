// Command memscope-task-example is the smallest useful memscope task: a
// handful of multiple-choice questions scored like lm-evaluation-harness
// scores them. Copy this folder to tasks/<yourtask>/, change the questions
// and the names, and `go tool task build` turns it into
// bin/memscope-task-<yourtask>, which memscope finds and runs.
//
// A task plugin never tokenizes and never runs a model. It only
//  1. describes itself (Describe),
//  2. turns its documents into backend requests (Requests), and
//  3. turns the backend's responses into scores (Score).
//
// memscope calls Requests and Score in separate calls (possibly in separate
// processes), so a task keeps no state: Score rebuilds what it needs from
// the same options.
package main

import (
	"context"
	"fmt"
	"math"

	"github.com/memscope/memscope/plugins"
)

// question is one document: a context and the possible continuations.
type question struct {
	context string
	choices []string
	gold    int // index of the right choice
}

// questions are the task's data, embedded in the binary. A real task would
// read a file (see tasks/piqa for one that embeds a data file with
// go:embed and takes --task-opt piqa.data=PATH for the full set).
var questions = []question{
	{"The capital of France is", []string{"Paris", "London", "Berlin", "Madrid"}, 0},
	{"Water freezes at zero degrees", []string{"Fahrenheit", "Celsius", "Kelvin"}, 1},
	{"The largest planet in the solar system is", []string{"Mars", "Venus", "Jupiter", "Mercury"}, 2},
	{"A week has seven", []string{"days", "hours", "months"}, 0},
	{"The opposite of hot is", []string{"loud", "cold", "tall"}, 1},
}

// exampleTask implements plugins.Task.
type exampleTask struct{}

func main() {
	plugins.ServeTask(exampleTask{})
}

// Describe tells memscope the task's name, kind and metrics.
func (exampleTask) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name:        "example", // must match the folder name (the binary is memscope-task-example)
		Version:     "2",       // bump whenever requests or scoring change: cached results are keyed by it
		OutputType:  plugins.OutputMultipleChoice,
		Category:    plugins.CategoryReasoning,
		Metrics:     []plugins.MetricInfo{{Name: "acc", HigherIsBetter: true, PerDoc: true}},
		DataFiles:   []string{"embedded: 5 questions in main.go"},
		Description: "A minimal example task: 5 embedded multiple-choice questions, scored by the highest log-likelihood.",
	}, nil
}

// selected returns the indices of the questions the options ask for:
// --docs ranges first, then --limit.
func selected(opts plugins.TaskOptions) ([]int, error) {
	if len(opts.Options) > 0 {
		return nil, fmt.Errorf("example: takes no --task-opt options")
	}
	var out []int
	for i := range questions {
		keep := len(opts.Docs) == 0
		for _, r := range opts.Docs {
			keep = keep || (r.First <= i && i <= r.Last)
		}
		if keep && (opts.Limit <= 0 || len(out) < opts.Limit) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("example: no questions selected (there are %d: 0-%d)", len(questions), len(questions)-1)
	}
	return out, nil
}

// Requests asks for the log-likelihood of every choice after its context.
// The continuation starts with a space (lm-eval's target delimiter); the
// backend handles tokenization.
func (exampleTask) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	docs, err := selected(opts)
	if err != nil {
		return nil, err
	}
	var reqs []plugins.Request
	for _, d := range docs {
		for i, choice := range questions[d].choices {
			reqs = append(reqs, plugins.Request{
				DocIndex:      d,
				Index:         i,
				Loglikelihood: &plugins.LoglikelihoodRequest{Context: questions[d].context, Continuation: " " + choice},
			})
		}
	}
	return reqs, nil
}

// Score gets the requests back with one response each, in order. A
// question is right when its gold choice has the highest log-likelihood.
func (t exampleTask) Score(ctx context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	docs, err := selected(opts)
	if err != nil {
		return plugins.Scores{}, err
	}
	want, _ := t.Requests(ctx, opts)
	if len(reqs) != len(want) || len(resps) != len(want) {
		return plugins.Scores{}, fmt.Errorf("example: got %d requests and %d responses, want %d of each", len(reqs), len(resps), len(want))
	}
	var out plugins.Scores
	correct := 0
	k := 0 // position in resps
	for _, d := range docs {
		q := questions[d]
		lls := make([]float64, len(q.choices))
		best := 0
		for i := range lls {
			r := resps[k].Loglikelihood
			if r == nil {
				return plugins.Scores{}, fmt.Errorf("example: response %d is not a loglikelihood result", k)
			}
			lls[i] = r.LogLikelihood
			if lls[i] > lls[best] || math.IsNaN(lls[i]) && !math.IsNaN(lls[best]) { // numpy's argmax: first maximum, a NaN counts as one
				best = i
			}
			k++
		}
		acc := 0.0
		if best == q.gold {
			acc = 1
			correct++
		}
		out.Docs = append(out.Docs, plugins.DocScore{
			DocIndex: d, Gold: q.gold, Prediction: best, ChoiceLogLikelihoods: lls,
			Metrics: map[string]float64{"acc": acc},
		})
	}
	n := len(docs)
	mean := float64(correct) / float64(n)
	out.Metrics = []plugins.MetricValue{{
		Name: "acc", Value: mean, N: n, HigherIsBetter: true,
		Stderr: stderrOfMean(mean, n),
	}}
	return out, nil
}

// stderrOfMean is the standard error of a mean of n 0/1 values (sample
// standard deviation / sqrt(n)); undefined (NaN) for one value.
func stderrOfMean(p float64, n int) float64 {
	if n <= 1 {
		return math.NaN()
	}
	return math.Sqrt(p * (1 - p) / float64(n-1))
}
