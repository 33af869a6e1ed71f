package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

// The README's "Writing a task plugin" shows this file: a newcomer who
// copies it from there gets this working task, in under 60 lines.
func TestREADMEShowsThisTask(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	assert.Less(t, strings.Count(string(src), "\n"), 60, "the README promises a task in under 60 lines")
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	body := string(src[strings.Index(string(src), "package main"):])
	assert.True(t, strings.Contains(string(readme), body), "README.md shows examples/go-task/main.go from `package main` on, verbatim")
}

func TestCapitals(t *testing.T) {
	task := newTask()
	info, err := task.Describe(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "capitals", info.Name)
	assert.Equal(t, plugins.OutputMultipleChoice, info.OutputType)
	assert.Equal(t, []string{"acc", "acc_norm"}, []string{info.Metrics[0].Name, info.Metrics[1].Name})
	assert.Equal(t, []string{`embedded:capitals/capitals.jsonl (all 5 documents; --task-opt capitals.data=PATH reads another file: JSON lines {"country", "choices": [...], "gold": 0-based index})`}, info.DataFiles)

	reqs, err := task.Requests(context.Background(), plugins.TaskOptions{})
	require.NoError(t, err)
	require.Len(t, reqs, 4+3+4+3+4)
	assert.Equal(t, plugins.LoglikelihoodRequest{Context: "The capital of Japan is", Continuation: " Tokyo"}, *reqs[5].Loglikelihood)

	// Doc 0: " Paris" (gold) most likely; doc 1: " Seoul" most likely, gold is Tokyo.
	opts := plugins.TaskOptions{Limit: 2}
	reqs, err = task.Requests(context.Background(), opts)
	require.NoError(t, err)
	var resps []plugins.Response
	for _, ll := range []float64{-1, -5, -6, -7, -2, -3, -9} {
		resps = append(resps, plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: ll}})
	}
	sc, err := task.Score(context.Background(), opts, reqs, resps)
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 0}, []float64{sc.Docs[0].Metrics["acc"], sc.Docs[1].Metrics["acc"]})
	assert.Equal(t, 0.5, sc.Metrics[0].Value)

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(`{"country": "Peru", "choices": ["Lima"], "gold": 3}`+"\n"), 0o644))
	_, err = task.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": bad}})
	assert.ErrorContains(t, err, "gold 3 out of range for 1 choices")
}
