package main

import (
	"context"
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
	opts := plugins.TaskOptions{Limit: len(refs)}
	task := newTask()
	reqs := tasktest.CheckRequests(t, task, opts, refs)
	tasktest.CheckScores(t, task, opts, reqs, refs, summary)
}

func TestPartialScoringByHand(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(`{"sentence": "Tom gave Bob a book because _  was kind. ", "option1": "Tom", "option2": "Bob", "answer": "1"}`+"\n"), 0o644))
	opts := plugins.TaskOptions{Options: map[string]string{"data": p}}
	reqs, err := newTask().Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	assert.Equal(t, plugins.LoglikelihoodRequest{Context: "Tom gave Bob a book because Tom", Continuation: " was kind."}, *reqs[0].Loglikelihood)
	assert.Equal(t, plugins.LoglikelihoodRequest{Context: "Tom gave Bob a book because Bob", Continuation: " was kind."}, *reqs[1].Loglikelihood)

	// acc: -3 > -4 picks option 1 (gold). acc_norm divides by the contexts'
	// lengths (31 and 31 characters), so it agrees here.
	ll := func(x float64) plugins.Response {
		return plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: x}}
	}
	sc, err := newTask().Score(context.Background(), opts, reqs, []plugins.Response{ll(-3), ll(-4)})
	require.NoError(t, err)
	assert.Equal(t, 0, sc.Docs[0].Gold)
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["acc"])
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["acc_norm"])
}

func TestBadInput(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"no blank", `{"sentence": "no blank here", "option1": "a", "option2": "b", "answer": "1"}`, `w.jsonl:1: sentence has no "_"`},
		{"bad answer", `{"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "3"}`, `w.jsonl:1: answer "3" is not "1" or "2"`},
		{"numeric answer", `{"sentence": "a _ b", "option1": "a", "option2": "b", "answer": 1}`, `w.jsonl:1: field "answer": want a string, got 1`},
		{"bad json", `{"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "1"}` + "\n[1,", "w.jsonl:2: bad JSON line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "w.jsonl")
			require.NoError(t, os.WriteFile(p, []byte(c.data+"\n"), 0o644))
			_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// FuzzData: any WinoGrande data file (plain, gzip) gives
// well-formed requests that score, or an error; never a panic.
func FuzzData(f *testing.F) {
	head := tasktest.Head(f, "data/winogrande_dev.derived.jsonl", 2000)
	f.Add(head)
	f.Add(tasktest.Gzip(head))
	f.Add([]byte(`{"sentence": "no blank here", "option1": "a", "option2": "b", "answer": "3"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := tasktest.WriteFile(t, dir, "winogrande.jsonl", data)
		tasktest.RequestsAndScore(t, newTask(), plugins.TaskOptions{Options: map[string]string{"data": p}, Seed: 1234})
	})
}
