package plugins

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
)

func TestRequestKind(t *testing.T) {
	ll, ro, ge := &LoglikelihoodRequest{}, &RollingRequest{}, &GenerateRequest{}
	for _, c := range []struct {
		req  Request
		want RequestKind
	}{
		{Request{Loglikelihood: ll}, KindLoglikelihood},
		{Request{Rolling: ro}, KindLoglikelihoodRolling},
		{Request{Generate: ge}, KindGenerateTokens},
		{Request{}, KindNone},
		{Request{Loglikelihood: ll, Generate: ge}, KindSeveral},
	} {
		assert.Equal(t, c.want, c.req.Kind())
		assert.Equal(t, c.want.Valid(), c.req.CheckKind() == nil, c.want)
	}
	assert.EqualError(t, Request{}.CheckKind(), "a request must set exactly one of Loglikelihood, Rolling, Generate (it sets none)")
	assert.EqualError(t, Response{Rolling: &RollingResult{}, Generate: &GenerateResult{}}.CheckKind(),
		"a response must set exactly one of Loglikelihood, Rolling, Generate (it sets several)")
	assert.Equal(t, KindGenerateTokens, Response{Generate: &GenerateResult{}}.Kind())
	assert.Equal(t, "none", KindNone.String())
}

// kindBackend answers each kind with a recognizable value and records the
// calls it got.
type kindBackend struct {
	Backend
	calls []RequestKind
	short bool // answer one result too few
}

func (b *kindBackend) Loglikelihood(_ context.Context, _ intervention.Intervention, reqs []LoglikelihoodRequest, p Progress) ([]LoglikelihoodResult, error) {
	b.calls = append(b.calls, KindLoglikelihood)
	out := make([]LoglikelihoodResult, len(reqs))
	for i, r := range reqs {
		out[i].ContextTokens = len(r.Context)
	}
	if p != nil {
		p(1, 2)
		p(2, 2)
	}
	if b.short {
		out = out[1:]
	}
	return out, nil
}

func (b *kindBackend) LoglikelihoodRolling(_ context.Context, _ intervention.Intervention, reqs []RollingRequest, p Progress) ([]RollingResult, error) {
	b.calls = append(b.calls, KindLoglikelihoodRolling)
	out := make([]RollingResult, len(reqs))
	for i, r := range reqs {
		out[i].LogLikelihood = float64(r.ContextLen)
	}
	if p != nil {
		p(5, 10)
	}
	return out, nil
}

func (b *kindBackend) GenerateTokens(_ context.Context, _ intervention.Intervention, reqs []GenerateRequest, _ Progress) ([]GenerateResult, error) {
	b.calls = append(b.calls, KindGenerateTokens)
	out := make([]GenerateResult, len(reqs))
	for i, r := range reqs {
		out[i].IDs = make([]int32, r.NewTokens)
	}
	return out, nil
}

func TestAnswerOneCallPerKindInOrder(t *testing.T) {
	reqs := []Request{
		{Generate: &GenerateRequest{NewTokens: 3}},
		{Loglikelihood: &LoglikelihoodRequest{Context: "ab"}},
		{Rolling: &RollingRequest{ContextLen: 7}},
		{Loglikelihood: &LoglikelihoodRequest{Context: "abcd"}},
	}
	b := &kindBackend{}
	var progress []float64
	resps, err := Answer(context.Background(), b, intervention.Intervention{}, reqs, func(n float64) { progress = append(progress, n) })
	require.NoError(t, err)
	assert.Equal(t, []RequestKind{KindLoglikelihood, KindLoglikelihoodRolling, KindGenerateTokens}, b.calls)
	require.Len(t, resps, 4)
	for i := range reqs {
		assert.Equal(t, reqs[i].Kind(), resps[i].Kind(), i)
	}
	assert.Len(t, resps[0].Generate.IDs, 3)
	assert.Equal(t, 2, resps[1].Loglikelihood.ContextTokens)
	assert.Equal(t, 7.0, resps[2].Rolling.LogLikelihood)
	assert.Equal(t, 4, resps[3].Loglikelihood.ContextTokens)
	// Two loglikelihood requests, then one rolling at half of its windows.
	assert.Equal(t, []float64{1, 2, 2.5}, progress)
}

func TestAnswerRejects(t *testing.T) {
	_, err := Answer(context.Background(), &kindBackend{}, intervention.Intervention{}, []Request{{Rolling: &RollingRequest{}}, {DocIndex: 4}}, nil)
	assert.EqualError(t, err, "request 1 (doc 4): a request must set exactly one of Loglikelihood, Rolling, Generate (it sets none)")
	_, err = Answer(context.Background(), &kindBackend{short: true}, intervention.Intervention{}, []Request{{Loglikelihood: &LoglikelihoodRequest{}}, {Loglikelihood: &LoglikelihoodRequest{}}}, nil)
	assert.EqualError(t, err, "backend answered 1 of 2 loglikelihood requests")
}
