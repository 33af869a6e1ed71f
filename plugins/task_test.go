package plugins_test

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/plugins/internal/testplugins"
)

// responsesFor answers requests in-process with the fake backend.
func responsesFor(t *testing.T, reqs []plugins.Request) []plugins.Response {
	t.Helper()
	b := &testplugins.Backend{}
	iv := intervention.Baseline()
	resps := make([]plugins.Response, len(reqs))
	for i, r := range reqs {
		switch {
		case r.Loglikelihood != nil:
			res, err := b.Loglikelihood(t.Context(), iv, []plugins.LoglikelihoodRequest{*r.Loglikelihood}, nil)
			require.NoError(t, err)
			resps[i].Loglikelihood = &res[0]
		case r.Rolling != nil:
			res, err := b.LoglikelihoodRolling(t.Context(), iv, []plugins.RollingRequest{*r.Rolling}, nil)
			require.NoError(t, err)
			resps[i].Rolling = &res[0]
		case r.Generate != nil:
			res, err := b.GenerateTokens(t.Context(), iv, []plugins.GenerateRequest{*r.Generate}, nil)
			require.NoError(t, err)
			resps[i].Generate = &res[0]
		}
	}
	return resps
}

func TestTaskRoundTripIsExact(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	remote, p := startTask(t, plugins.StartOptions{})
	assert.Equal(t, "task fake", p.Name())
	local := &testplugins.Task{}

	info, err := remote.Describe(ctx)
	require.NoError(t, err)
	wantInfo, _ := local.Describe(ctx)
	requireSame(t, wantInfo, info)

	optsCases := []plugins.TaskOptions{
		{},
		{Limit: 5, Seed: -42, Docs: []plugins.DocRange{{First: 0, Last: 3}, {First: 10, Last: 10}}, Options: map[string]string{"prefix_len": "32", "": "empty key"}},
		{Docs: []plugins.DocRange{}, Options: map[string]string{}},
		{Options: map[string]string{"nil": "1"}},
		{Options: map[string]string{"empty": "1"}},
	}
	for i, opts := range optsCases {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			reqs, err := remote.Requests(ctx, opts)
			require.NoError(t, err)
			wantReqs, _ := local.Requests(ctx, opts)
			requireSame(t, wantReqs, reqs)

			resps := responsesFor(t, reqs)
			if reqs == nil {
				resps = nil
			}
			scores, err := remote.Score(ctx, opts, reqs, resps)
			require.NoError(t, err)
			wantScores, _ := local.Score(ctx, opts, reqs, resps)
			requireSame(t, wantScores, scores)
			require.NotEmpty(t, scores.Metrics)
			assert.True(t, math.IsNaN(scores.Metrics[0].Stderr))
			assert.True(t, math.Signbit(scores.Metrics[1].Value), "-0 must stay -0")
		})
	}

	// nil vs empty request and response lists reach the task as sent (the
	// digest metric fingerprints them).
	nilScores, err := remote.Score(ctx, plugins.TaskOptions{}, nil, nil)
	require.NoError(t, err)
	emptyScores, err := remote.Score(ctx, plugins.TaskOptions{}, []plugins.Request{}, []plugins.Response{})
	require.NoError(t, err)
	assert.Nil(t, nilScores.Docs)
	assert.NotNil(t, emptyScores.Docs)
	assert.NotEqual(t, math.Float64bits(nilScores.Metrics[0].Value), math.Float64bits(emptyScores.Metrics[0].Value))

	// A task error comes back with its text.
	_, err = remote.Score(ctx, plugins.TaskOptions{}, []plugins.Request{{}}, nil)
	require.Error(t, err)
	assert.Equal(t, "task fake: Score: score: 1 requests but 0 responses", err.Error())
}

func TestTaskPayloadsOver4MB(t *testing.T) {
	ctx := ctxTimeout(t, 60*time.Second)
	remote, _ := startTask(t, plugins.StartOptions{})
	local := &testplugins.Task{}
	// Requests: one rolling request of 2M ids (~10 MB) from the plugin.
	opts := plugins.TaskOptions{Limit: 2, Seed: 9, Options: map[string]string{"big": "2000000", "bigscores": "1000000"}}
	start := time.Now()
	reqs, err := remote.Requests(ctx, opts)
	require.NoError(t, err)
	t.Logf("Requests with a 2M-id request: %v", time.Since(start))
	wantReqs, _ := local.Requests(ctx, opts)
	requireSame(t, wantReqs, reqs)
	require.Len(t, reqs[len(reqs)-1].Rolling.IDs, 2_000_000)

	// Score: the requests plus an ~18 MB rolling response to the plugin,
	// and a doc score with 1M float64s (8 MB) back.
	resps := responsesFor(t, reqs)
	start = time.Now()
	scores, err := remote.Score(ctx, opts, reqs, resps)
	require.NoError(t, err)
	t.Logf("Score with ~28 MB up and ~8 MB down: %v", time.Since(start))
	wantScores, _ := local.Score(ctx, opts, reqs, resps)
	requireSame(t, wantScores, scores)
	require.Len(t, scores.Docs[len(scores.Docs)-1].ChoiceLogLikelihoods, 1_000_000)
}
