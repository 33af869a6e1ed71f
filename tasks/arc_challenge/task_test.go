package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

// The ARC logic is tested in taskkit/arc and against lm-eval's reference
// through arc_easy; here: the embedded ARC-Challenge subset is wired in.
func TestEmbeddedData(t *testing.T) {
	task := newTask()
	info, err := task.Describe(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "arc_challenge", info.Name)
	assert.Contains(t, info.DataFiles[0], "embedded:arc_challenge/arc_challenge_test.derived.jsonl (first 200 of 1172")

	reqs, err := task.Requests(context.Background(), plugins.TaskOptions{Docs: []plugins.DocRange{{First: 0, Last: 0}, {First: 199, Last: 400}}})
	require.NoError(t, err)
	// Document 0 of the ARC-Challenge test split, 4 choices.
	require.Len(t, reqs, 8)
	assert.Equal(t, "Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nAnswer:", reqs[0].Loglikelihood.Context)
	assert.Equal(t, []string{" Planetary density will decrease.", " Planetary years will become longer.", " Planetary days will become shorter.", " Planetary gravity will become stronger."},
		[]string{reqs[0].Loglikelihood.Continuation, reqs[1].Loglikelihood.Continuation, reqs[2].Loglikelihood.Continuation, reqs[3].Loglikelihood.Continuation})
	assert.Equal(t, 199, reqs[4].DocIndex)
}
