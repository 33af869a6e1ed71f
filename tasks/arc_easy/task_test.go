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
