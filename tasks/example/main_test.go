package main

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

func ll(x float64) plugins.Response {
	return plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: x}}
}

func TestRequests(t *testing.T) {
	reqs, err := exampleTask{}.Requests(context.Background(), plugins.TaskOptions{})
	require.NoError(t, err)
	assert.Len(t, reqs, 4+3+4+3+3)
	assert.Equal(t, plugins.Request{DocIndex: 0, Index: 1, Loglikelihood: &plugins.LoglikelihoodRequest{Context: "The capital of France is", Continuation: " London"}}, reqs[1])

	reqs, err = exampleTask{}.Requests(context.Background(), plugins.TaskOptions{Docs: []plugins.DocRange{{First: 3, Last: 9}}, Limit: 1})
	require.NoError(t, err)
	require.Len(t, reqs, 3)
	assert.Equal(t, 3, reqs[0].DocIndex)
}

func TestScore(t *testing.T) {
	opts := plugins.TaskOptions{Limit: 2}
	reqs, err := exampleTask{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	// Question 0: " Paris" best (right). Question 1: " Fahrenheit" best (wrong; gold is Celsius).
	resps := []plugins.Response{ll(-1), ll(-5), ll(-6), ll(-7), ll(-2), ll(-3), ll(-9)}
	sc, err := exampleTask{}.Score(context.Background(), opts, reqs, resps)
	require.NoError(t, err)
	assert.Equal(t, 0, sc.Docs[0].Prediction)
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["acc"])
	assert.Equal(t, 0, sc.Docs[1].Prediction)
	assert.Equal(t, 1, sc.Docs[1].Gold)
	assert.Equal(t, 0.0, sc.Docs[1].Metrics["acc"])
	// acc 1/2; sample sd of {1, 0} is sqrt(1/2), stderr sqrt(1/2)/sqrt(2) = 1/2.
	assert.Equal(t, plugins.MetricValue{Name: "acc", Value: 0.5, Stderr: 0.5, N: 2, HigherIsBetter: true}, sc.Metrics[0])

	_, err = exampleTask{}.Score(context.Background(), opts, reqs, resps[:3])
	assert.ErrorContains(t, err, "got 7 requests and 3 responses, want 7")
	resps[6] = plugins.Response{Rolling: &plugins.RollingResult{}}
	_, err = exampleTask{}.Score(context.Background(), opts, reqs, resps)
	assert.ErrorContains(t, err, "response 6 is not a loglikelihood result")
}

func TestBadOptions(t *testing.T) {
	_, err := exampleTask{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": "x"}})
	assert.ErrorContains(t, err, "takes no --task-opt options")
	_, err = exampleTask{}.Requests(context.Background(), plugins.TaskOptions{Docs: []plugins.DocRange{{First: 10, Last: 20}}})
	assert.ErrorContains(t, err, "no questions selected")
}

// A NaN log-likelihood is the maximum for numpy's argmax (the first NaN
// wins), so lm-eval predicts that choice; the example does the same.
func TestScoreNaNIsNumpysMaximum(t *testing.T) {
	opts := plugins.TaskOptions{Limit: 1}
	reqs, err := exampleTask{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	sc, err := exampleTask{}.Score(context.Background(), opts, reqs, []plugins.Response{ll(-1), ll(-5), ll(math.NaN()), ll(math.NaN())})
	require.NoError(t, err)
	assert.Equal(t, 2, sc.Docs[0].Prediction)
	assert.Equal(t, 0.0, sc.Docs[0].Metrics["acc"])
}
