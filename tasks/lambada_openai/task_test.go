package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit/tasktest"
)

func TestMatchesLMEvalReference(t *testing.T) {
	refs := tasktest.LoadRefDocs(t, "testdata/taskref.jsonl.gz")
	summary := tasktest.LoadSummary(t, "testdata/taskref_summary.json")
	opts := plugins.TaskOptions{Limit: len(refs), Seed: 1234}
	reqs := tasktest.CheckRequests(t, task{}, opts, refs)
	scores := tasktest.CheckScores(t, task{}, opts, reqs, refs, summary)
	for i, d := range refs {
		want := 0.0
		if d.Requests[0].IsGreedy {
			want = 1
		}
		assert.Equal(t, want, scores.Docs[i].Metrics["acc"])
		assert.Equal(t, []float64{d.Requests[0].LogLikelihood}, scores.Docs[i].ChoiceLogLikelihoods)
	}
}

func TestSplit(t *testing.T) {
	cases := []struct{ text, ctx, cont string }{
		{"the cat sat", "the cat", " sat"},
		{"one", "", " one"},
		{"ends with space ", "ends with space", " "},
		{"double  space", "double ", " space"},
		{"line\nbreak word", "line\nbreak", " word"},
	}
	for _, c := range cases {
		ctx, cont := split(c.text)
		assert.Equal(t, c.ctx, ctx, c.text)
		assert.Equal(t, c.cont, cont, c.text)
	}
}

func responses(lls []float64, greedy []bool) []plugins.Response {
	out := make([]plugins.Response, len(lls))
	for i := range lls {
		out[i] = plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: lls[i], IsGreedy: greedy[i]}}
	}
	return out
}

func TestScoresByHand(t *testing.T) {
	opts := plugins.TaskOptions{Limit: 4, Seed: 7}
	reqs, err := task{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 4)
	sc, err := task{}.Score(context.Background(), opts, reqs, responses([]float64{-1, -2, -3, -6}, []bool{true, false, true, false}))
	require.NoError(t, err)
	// mean ll = -3 -> perplexity e^3; acc 0.5 with stderr sqrt(1/3)/2.
	assert.Equal(t, "acc", sc.Metrics[0].Name)
	assert.Equal(t, 0.5, sc.Metrics[0].Value)
	assert.InDelta(t, math.Sqrt(1.0/3)/2, sc.Metrics[0].Stderr, 1e-15)
	assert.Equal(t, "perplexity", sc.Metrics[1].Name)
	assert.InEpsilon(t, math.Exp(3), sc.Metrics[1].Value, 1e-15)
	assert.False(t, sc.Metrics[1].HigherIsBetter)
	// The bootstrap stderr: reproducible for a seed, positive, and of the size
	// the delta method predicts (e^3 * sd(ll)/sqrt(n) ~ 20*2.16/2 ~ 22, skewed).
	se := sc.Metrics[1].Stderr
	assert.Greater(t, se, 10.0)
	assert.Less(t, se, 60.0)
	again, err := task{}.Score(context.Background(), opts, reqs, responses([]float64{-1, -2, -3, -6}, []bool{true, false, true, false}))
	require.NoError(t, err)
	assert.Equal(t, se, again.Metrics[1].Stderr)

	opts.Options = map[string]string{"bootstrap_iters": "0"}
	sc, err = task{}.Score(context.Background(), opts, reqs, responses([]float64{-1, -2, -3, -6}, []bool{true, false, true, false}))
	require.NoError(t, err)
	assert.True(t, math.IsNaN(sc.Metrics[1].Stderr))
}

func TestBadInput(t *testing.T) {
	opts := plugins.TaskOptions{Limit: 2}
	reqs, err := task{}.Requests(context.Background(), opts)
	require.NoError(t, err)

	_, err = task{}.Score(context.Background(), opts, reqs, responses([]float64{-1}, []bool{true}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 responses for 2 requests")

	wrongKind := []plugins.Response{{Loglikelihood: &plugins.LoglikelihoodResult{}}, {Rolling: &plugins.RollingResult{}}}
	_, err = task{}.Score(context.Background(), opts, reqs, wrongKind)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "response 1 (doc 1, index 0): want a loglikelihood result, got loglikelihood_rolling")

	_, err = task{}.Score(context.Background(), plugins.TaskOptions{Limit: 3}, reqs, responses([]float64{-1, -2}, []bool{true, true}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "score got 2 requests, but these options make 3")

	_, err = task{}.Score(context.Background(), plugins.TaskOptions{Limit: 2, Options: map[string]string{"bootstrap_iters": "many"}}, reqs, responses([]float64{-1, -2}, []bool{true, true}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `lambada_openai.bootstrap_iters="many": not an integer`)

	p := filepath.Join(t.TempDir(), "l.jsonl")
	require.NoError(t, os.WriteFile(p, []byte("{\"text\": \"a b\"}\n{\"txt\": \"a b\"}\n"), 0o644))
	_, err = task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `l.jsonl:2: missing field "text"`)
}

// Every option and every passage is checked when the requests are built,
// before any model work: huge or negative bootstrap_iters (a makeslice
// panic; refused only in Score, after the backend ran), and passages with
// no last word (scored as the continuation " ").
func TestBadOptionsAndPassagesFailInRequests(t *testing.T) {
	for _, c := range []struct{ iters, want string }{
		{"9223372036854775807", "lambada_openai.bootstrap_iters=9223372036854775807: too large; give at most 1000000"},
		{"-5", "lambada_openai.bootstrap_iters=-5: must be at least 0"},
	} {
		_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Limit: 2, Options: map[string]string{"bootstrap_iters": c.iters}})
		assert.ErrorContains(t, err, c.want)
	}
	for _, c := range []struct{ line, want string }{
		{`{"text": ""}`, `l.jsonl:2: empty "text"`},
		{`{"text": "   "}`, `l.jsonl:2: empty "text"`},
		{`{"text": "a b "}`, `l.jsonl:2: "text" ends in a space`},
	} {
		p := filepath.Join(t.TempDir(), "l.jsonl")
		require.NoError(t, os.WriteFile(p, []byte("{\"text\": \"a b\"}\n"+c.line+"\n"), 0o644))
		_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
		assert.ErrorContains(t, err, c.want)
	}
}

// FuzzData: any LAMBADA data file (plain, gzip) gives
// well-formed requests that score, or an error; never a panic.
func FuzzData(f *testing.F) {
	head := tasktest.Head(f, "data/lambada_test.jsonl", 3000)
	f.Add(head)
	f.Add(tasktest.Gzip(head))
	f.Add([]byte(`{"text": ""}` + "\n" + `{"text": "a "}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := tasktest.WriteFile(t, dir, "lambada.jsonl", data)
		tasktest.RequestsAndScore(t, task{}, plugins.TaskOptions{Options: map[string]string{"data": p, "bootstrap_iters": "20"}, Seed: 1234})
	})
}
