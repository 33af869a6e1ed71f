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

func TestDescribe(t *testing.T) {
	info, err := newTask().Describe(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "piqa", info.Name)
	assert.Equal(t, plugins.CategoryReasoning, info.Category)
	assert.Equal(t, plugins.OutputMultipleChoice, info.OutputType)
	assert.Len(t, info.Metrics, 2)
	assert.Contains(t, info.DataFiles[0], "embedded:piqa/valid.jsonl")
	assert.Contains(t, info.DataFiles[0], "first 200 of 1838")
}

func TestEmbeddedHas200Docs(t *testing.T) {
	reqs, err := newTask().Requests(context.Background(), plugins.TaskOptions{})
	require.NoError(t, err)
	assert.Len(t, reqs, 400)
	assert.Equal(t, 199, reqs[399].DocIndex)
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestDataAndLabelFiles(t *testing.T) {
	dir := t.TempDir()
	data := write(t, dir, "valid.jsonl", `{"goal": "g0", "sol1": "a", "sol2": "bb"}`+"\n"+`{"goal": "g1", "sol1": "c", "sol2": "d"}`+"\n")
	write(t, dir, "valid-labels.lst", "1\n0\n\n") // trailing blank lines are fine
	opts := plugins.TaskOptions{Options: map[string]string{"data": data}, Docs: []plugins.DocRange{{First: 1, Last: 1}}}
	reqs, err := newTask().Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	assert.Equal(t, plugins.LoglikelihoodRequest{Context: "Question: g1\nAnswer:", Continuation: " c"}, *reqs[0].Loglikelihood)
	assert.Equal(t, 1, reqs[0].DocIndex)

	ll := func(x float64) plugins.Response {
		return plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: x}}
	}
	sc, err := newTask().Score(context.Background(), opts, reqs, []plugins.Response{ll(-1), ll(-2)})
	require.NoError(t, err)
	assert.Equal(t, 0, sc.Docs[0].Gold)
	assert.Equal(t, 0, sc.Docs[0].Prediction)
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["acc"])
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := `{"goal": "g", "sol1": "a", "sol2": "b"}` + "\n"
	cases := []struct {
		name, data, labels, want string
	}{
		{"bad json", good + "{oops\n", "0\n1\n", "valid.jsonl:2: bad JSON line"},
		{"missing field", `{"goal": "g", "sol1": "a"}` + "\n", "0\n", `valid.jsonl:1: missing field "sol2"`},
		{"short labels", good + good, "0\n", "valid-labels.lst: 1 labels for the 2 questions"},
		{"long labels", good, "0\n1\n", "valid-labels.lst: 2 labels for the 1 questions"},
		{"bad label", good, "2\n", `valid-labels.lst:1: label "2" is not 0 or 1`},
		{"blank label line", good + good, "0\n\n1\n", "valid-labels.lst:3: blank line 2 among the labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, c.name)
			require.NoError(t, os.Mkdir(sub, 0o755))
			data := write(t, sub, "valid.jsonl", c.data)
			write(t, sub, "valid-labels.lst", c.labels)
			_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": data}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	t.Run("no labels file", func(t *testing.T) {
		sub := filepath.Join(dir, "nolabels")
		require.NoError(t, os.Mkdir(sub, 0o755))
		data := write(t, sub, "valid.jsonl", good)
		_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": data}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "valid-labels.lst: file not found")
		assert.Contains(t, err.Error(), "piqa.labels=PATH")
	})
	t.Run("missing data file", func(t *testing.T) {
		_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": filepath.Join(dir, "nope.jsonl")}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nope.jsonl: file not found")
	})
	t.Run("unknown option", func(t *testing.T) {
		_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"datta": "x"}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown option "datta"`)
		assert.Contains(t, err.Error(), "valid options: data, labels")
	})
}

// FuzzData: any PIQA questions file and labels file beside it (plain or
// gzip) give well-formed requests that score, or an error; never a panic.
func FuzzData(f *testing.F) {
	head := tasktest.Head(f, "data/valid.jsonl", 2000)
	labels := tasktest.Head(f, "data/valid-labels.lst", 40)
	f.Add(head, labels)
	f.Add(tasktest.Gzip(head), tasktest.Gzip(labels))
	f.Add(head, []byte("0\n\n1\n2\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data, labels []byte) {
		p := tasktest.WriteFile(t, dir, "valid.jsonl", data)
		tasktest.WriteFile(t, dir, "valid-labels.lst", labels)
		tasktest.RequestsAndScore(t, newTask(), plugins.TaskOptions{Options: map[string]string{"data": p}, Seed: 1234})
	})
}
