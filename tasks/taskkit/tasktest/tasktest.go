// Package tasktest checks task plugins against the lm-eval-style reference
// fixtures (shared/fixtures/taskref, copied into each task's testdata).
// Only tests import it.
package tasktest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

// RefRequest is one request of a reference document.
type RefRequest struct {
	Context       string  `json:"context"`
	Continuation  string  `json:"continuation"`
	LogLikelihood float64 `json:"loglikelihood"`
	IsGreedy      bool    `json:"is_greedy"`
}

// RefDoc is one line of a taskref fixture.
type RefDoc struct {
	Doc      int          `json:"doc"`
	Requests []RefRequest `json:"requests"`
	Gold     *int         `json:"gold"`
	Acc      *float64     `json:"acc"`
	AccNorm  *float64     `json:"acc_norm"`
}

// LoadRefDocs reads a gzip'd taskref JSON-lines fixture.
func LoadRefDocs(t *testing.T, path string) []RefDoc {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var docs []RefDoc
	for sc.Scan() {
		var d RefDoc
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
		docs = append(docs, d)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, docs)
	return docs
}

// LoadSummary reads a task's summary numbers ({"summary": {"acc": …}}).
func LoadSummary(t *testing.T, path string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var s struct {
		Summary map[string]float64 `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(b, &s))
	require.NotEmpty(t, s.Summary)
	return s.Summary
}

// Responses turns the fixture's log-likelihoods into backend responses.
func Responses(docs []RefDoc) []plugins.Response {
	var out []plugins.Response
	for _, d := range docs {
		for _, r := range d.Requests {
			out = append(out, plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: r.LogLikelihood, IsGreedy: r.IsGreedy}})
		}
	}
	return out
}

// CheckRequests asserts the task makes, for the fixture's documents (the
// first len(refs) of its default data), byte-identical requests in the same
// order and count per document.
func CheckRequests(t *testing.T, task plugins.Task, opts plugins.TaskOptions, refs []RefDoc) []plugins.Request {
	t.Helper()
	reqs, err := task.Requests(context.Background(), opts)
	require.NoError(t, err)
	k := 0
	for _, d := range refs {
		for i, want := range d.Requests {
			require.Less(t, k, len(reqs), "too few requests: doc %d choice %d missing", d.Doc, i)
			got := reqs[k]
			require.NotNil(t, got.Loglikelihood, "request %d is not a loglikelihood request", k)
			assert.Equal(t, d.Doc, got.DocIndex, "request %d doc", k)
			assert.Equal(t, i, got.Index, "request %d index", k)
			assert.Equal(t, want.Context, got.Loglikelihood.Context, "doc %d choice %d context", d.Doc, i)
			assert.Equal(t, want.Continuation, got.Loglikelihood.Continuation, "doc %d choice %d continuation", d.Doc, i)
			k++
		}
	}
	require.Equal(t, k, len(reqs), "request count")
	return reqs
}

// CheckScores asserts that scoring the fixture's log-likelihoods gives the
// fixture's per-document acc / acc_norm and the summary: exact for the
// accuracies, 1e-9 relative for anything else (perplexity).
func CheckScores(t *testing.T, task plugins.Task, opts plugins.TaskOptions, reqs []plugins.Request, refs []RefDoc, summary map[string]float64) plugins.Scores {
	t.Helper()
	scores, err := task.Score(context.Background(), opts, reqs, Responses(refs))
	require.NoError(t, err)
	require.Len(t, scores.Docs, len(refs))
	for i, d := range refs {
		got := scores.Docs[i]
		assert.Equal(t, d.Doc, got.DocIndex)
		if d.Gold != nil {
			assert.Equal(t, *d.Gold, got.Gold, "doc %d gold", d.Doc)
		}
		if d.Acc != nil {
			assert.Equal(t, *d.Acc, got.Metrics["acc"], "doc %d acc", d.Doc)
		}
		if d.AccNorm != nil {
			assert.Equal(t, *d.AccNorm, got.Metrics["acc_norm"], "doc %d acc_norm", d.Doc)
		}
	}
	byName := map[string]plugins.MetricValue{}
	for _, m := range scores.Metrics {
		byName[m.Name] = m
	}
	for name, want := range summary {
		if name == "docs" {
			for _, m := range scores.Metrics {
				assert.Equal(t, int(want), m.N, "%s N", m.Name)
			}
			continue
		}
		got, ok := byName[name]
		if !assert.True(t, ok, "metric %s missing", name) {
			continue
		}
		if name == "acc" || name == "acc_norm" {
			assert.Equal(t, want, got.Value, name)
			wantSE := meanStderrOfAccuracy(want, len(refs))
			assert.InDelta(t, wantSE, got.Stderr, 1e-12, name+" stderr")
		} else {
			assert.InEpsilon(t, want, got.Value, 1e-9, name)
		}
	}
	return scores
}

// meanStderrOfAccuracy is the closed-form stderr of a mean of n 0/1 values
// whose mean is p: sqrt(p(1-p) n/(n-1)) / sqrt(n).
func meanStderrOfAccuracy(p float64, n int) float64 {
	return math.Sqrt(p*(1-p)*float64(n)/float64(n-1)) / math.Sqrt(float64(n))
}

// WriteFile writes a fuzz input (or any data) as dir/name and returns the
// path; it skips the test when the file cannot be written.
func WriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := dir + string(os.PathSeparator) + name
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Skipf("cannot write %s: %v", p, err)
	}
	return p
}

// RequestsAndScore is a fuzz target's body for a task's data: building
// the requests from opts fails with an error or gives well-formed requests
// (exactly one kind each, document indices ≥ 0), and those are scored with
// made-up answers of the right kind without a panic. Nothing may panic.
func RequestsAndScore(t *testing.T, task plugins.Task, opts plugins.TaskOptions) {
	t.Helper()
	ctx := context.Background()
	reqs, err := task.Requests(ctx, opts)
	if err != nil {
		return
	}
	resps := make([]plugins.Response, len(reqs))
	for i, r := range reqs {
		kinds := 0
		switch {
		case r.Loglikelihood != nil:
			kinds++
			resps[i].Loglikelihood = &plugins.LoglikelihoodResult{LogLikelihood: -float64(i%7) - 0.5, IsGreedy: i%3 == 0}
		case r.Rolling != nil:
			kinds++
			n := len(r.Rolling.IDs) - r.Rolling.ContextLen
			resps[i].Rolling = &plugins.RollingResult{LogLikelihood: -1, LogProbs: make([]float32, max(n, 0)), Entropies: make([]float32, max(n, 0)), Greedy: make([]bool, max(n, 0))}
		case r.Generate != nil:
			kinds++
			resps[i].Generate = &plugins.GenerateResult{IDs: make([]int32, r.Generate.NewTokens), Entropies: make([]float32, r.Generate.NewTokens)}
		}
		if kinds != 1 || r.DocIndex < 0 {
			t.Fatalf("request %d is malformed: %+v", i, r)
		}
	}
	_, _ = task.Score(ctx, opts, reqs, resps)
}

// Head is the first n bytes of a file, cut after its last whole line: a
// few documents of a task's data, for fuzz seeds.
func Head(t testing.TB, path string, n int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && b[len(b)-1] != '\n' {
			b = b[:len(b)-1]
		}
	}
	return b
}

// Gzip compresses b, for seeds of packed data files.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
