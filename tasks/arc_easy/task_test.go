package main

import (
	"context"
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
	assert.Equal(t, "arc_easy", info.Name)
	assert.Equal(t, plugins.CategoryReasoning, info.Category)
	assert.Contains(t, info.DataFiles[0], "embedded:arc_easy/arc_easy_test.derived.jsonl (first 200 of 2376")
}

// FuzzData: any ARC data file (plain, gzip) gives
// well-formed requests that score, or an error; never a panic.
func FuzzData(f *testing.F) {
	head := tasktest.Head(f, "data/arc_easy_test.derived.jsonl", 2000)
	f.Add(head)
	f.Add(tasktest.Gzip(head))
	f.Add([]byte(`{"question": "q", "choices": [], "gold": 7}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := tasktest.WriteFile(t, dir, "arc.jsonl", data)
		tasktest.RequestsAndScore(t, newTask(), plugins.TaskOptions{Options: map[string]string{"data": p}, Seed: 1234})
	})
}
