package plugins_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/plugins/internal/testplugins"
)

var diffExact = testplugins.Diff

var testInterventions = []intervention.Intervention{
	{},                      // zero value: kind "" and nil blocks
	intervention.Baseline(), // kind none, nil blocks
	{Kind: intervention.AttnShortCircuit, Blocks: []int{}},
	{Kind: intervention.AttnShortCircuit, Blocks: []int{0, 5, 23}},
	{Kind: intervention.AttnZero, Blocks: []int{1 << 40, -1}},
}

func TestBackendRoundTripIsExact(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	remote, _ := startBackend(t, plugins.StartOptions{})
	local := &testplugins.Backend{}

	// Capabilities before and after Load (Model nil, then set).
	for _, load := range []*plugins.LoadRequest{nil, {ModelDir: "/models/pythia-70m", DType: "bfloat16", Threads: 3, BatchSize: 17}} {
		if load != nil {
			got, err := remote.Load(ctx, *load)
			require.NoError(t, err)
			want, err := local.Load(ctx, *load)
			require.NoError(t, err)
			requireSame(t, want, got)
		}
		got, err := remote.Capabilities(ctx)
		require.NoError(t, err)
		want, err := local.Capabilities(ctx)
		require.NoError(t, err)
		requireSame(t, want, got)
		assert.Equal(t, load == nil, got.Model == nil)
		assert.NotNil(t, got.DTypes, "an empty slice must not come back nil")
	}

	llReqs := []plugins.LoglikelihoodRequest{
		{Context: "The capital of France is", Continuation: " Paris"},
		{Context: "", Continuation: ""},
		{Context: "not UTF-8: \xff\xfe\x80", Continuation: " \x00nul"},
		{Context: "ünïcödé 日本語 ", Continuation: "🙂"},
	}
	rollReqs := []plugins.RollingRequest{
		{Text: "a whole document to score"},
		{IDs: []int32{0, 1, -1, 2147483647, -2147483648, 50276}, ContextLen: 2},
		{IDs: []int32{}},     // empty, not nil
		{Text: "", IDs: nil}, // nothing at all: nil results
	}
	genReqs := []plugins.GenerateRequest{
		{Prefix: []int32{5, 6, 7}, NewTokens: 8},
		{Prefix: []int32{}, NewTokens: 0},
		{Prefix: nil, NewTokens: 0},
		{Prefix: nil, NewTokens: 3},
	}
	for _, iv := range testInterventions {
		t.Run(iv.String(), func(t *testing.T) {
			got, err := remote.Loglikelihood(ctx, iv, llReqs, nil)
			require.NoError(t, err)
			want, _ := local.Loglikelihood(ctx, iv, llReqs, nil)
			requireSame(t, want, got)

			gotR, err := remote.LoglikelihoodRolling(ctx, iv, rollReqs, nil)
			require.NoError(t, err)
			wantR, _ := local.LoglikelihoodRolling(ctx, iv, rollReqs, nil)
			requireSame(t, wantR, gotR)

			gotG, err := remote.GenerateTokens(ctx, iv, genReqs, nil)
			require.NoError(t, err)
			wantG, _ := local.GenerateTokens(ctx, iv, genReqs, nil)
			requireSame(t, wantG, gotG)
		})
	}
	// The results really depend on the intervention (so it crossed intact).
	a, _ := remote.Loglikelihood(ctx, testInterventions[2], llReqs[:1], nil)
	b, _ := remote.Loglikelihood(ctx, testInterventions[3], llReqs[:1], nil)
	assert.NotEqual(t, a[0].LogLikelihood, b[0].LogLikelihood)

	// nil and empty request lists give nil and empty result lists.
	gotNil, err := remote.Loglikelihood(ctx, intervention.Baseline(), nil, nil)
	require.NoError(t, err)
	assert.Nil(t, gotNil)
	gotEmpty, err := remote.GenerateTokens(ctx, intervention.Baseline(), []plugins.GenerateRequest{}, nil)
	require.NoError(t, err)
	assert.NotNil(t, gotEmpty)
	assert.Empty(t, gotEmpty)
}

func TestBackendManySmallRequestsKeepOrder(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	remote, _ := startBackend(t, plugins.StartOptions{})
	// ~20k requests of ~100 bytes: several 1 MiB chunks each way.
	reqs := make([]plugins.LoglikelihoodRequest, 20000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range reqs {
		b := make([]byte, 40+r.IntN(120))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		reqs[i] = plugins.LoglikelihoodRequest{Context: string(b[:len(b)/2]), Continuation: string(b[len(b)/2:])}
	}
	iv := intervention.Intervention{Kind: intervention.AttnShortCircuit, Blocks: []int{3}}
	got, err := remote.Loglikelihood(ctx, iv, reqs, nil)
	require.NoError(t, err)
	want, _ := (&testplugins.Backend{}).Loglikelihood(ctx, iv, reqs, nil)
	requireSame(t, want, got)
}

func TestBackendPayloadsOver4MB(t *testing.T) {
	ctx := ctxTimeout(t, 60*time.Second)
	remote, _ := startBackend(t, plugins.StartOptions{})
	// One rolling request of 2M ids over the full int32 range: ~10 MB in
	// one message to the plugin; ~18 MB of results in one message back.
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([]int32, 2_000_000)
	for i := range ids {
		ids[i] = int32(r.Uint32())
	}
	reqs := []plugins.RollingRequest{{IDs: ids, ContextLen: 1}, {Text: "small one after the big one"}}
	iv := intervention.Intervention{Kind: intervention.AttnZero, Blocks: []int{2}}
	start := time.Now()
	got, err := remote.LoglikelihoodRolling(ctx, iv, reqs, nil)
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Len(t, got[0].LogProbs, len(ids))
	want, _ := (&testplugins.Backend{}).LoglikelihoodRolling(ctx, iv, reqs, nil)
	requireSame(t, want, got)
	t.Logf("rolling call with 2M ids (~10 MB up, ~18 MB down, fake compute included): %v", elapsed)

	// Generation with a long prefix and many new tokens.
	gen := []plugins.GenerateRequest{{Prefix: ids, NewTokens: 1_500_000}}
	gotG, err := remote.GenerateTokens(ctx, iv, gen, nil)
	require.NoError(t, err)
	wantG, _ := (&testplugins.Backend{}).GenerateTokens(ctx, iv, gen, nil)
	requireSame(t, wantG, gotG)
}

func TestBackendProgress(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	remote, _ := startBackend(t, plugins.StartOptions{})
	reqs := make([]plugins.LoglikelihoodRequest, 50)
	for i := range reqs {
		reqs[i] = plugins.LoglikelihoodRequest{Context: testplugins.Slow, Continuation: string(rune('a' + i%26))}
	}
	type report struct{ done, total int }
	var reports []report
	_, err := remote.Loglikelihood(ctx, intervention.Baseline(), reqs, func(done, total int) {
		reports = append(reports, report{done, total})
	})
	require.NoError(t, err)
	require.NotEmpty(t, reports)
	// 50 requests of 2 ms each: the plugin's reports arrive while it works
	// (coalesced, so not necessarily 50 of them).
	assert.GreaterOrEqual(t, len(reports), 5, "progress should arrive during the call, got %v", reports)
	for i, r := range reports {
		assert.Equal(t, 50, r.total)
		if i > 0 {
			assert.Greater(t, r.done, reports[i-1].done, "progress must be monotone: %v", reports)
		}
	}
	assert.Equal(t, report{50, 50}, reports[len(reports)-1])

	// Every batch call reports progress up to its total.
	var last [2]int
	_, err = remote.LoglikelihoodRolling(ctx, intervention.Baseline(), []plugins.RollingRequest{{Text: "a"}, {Text: "b"}, {Text: "c"}},
		func(done, total int) { last = [2]int{done, total} })
	require.NoError(t, err)
	assert.Equal(t, [2]int{3, 3}, last)
	_, err = remote.GenerateTokens(ctx, intervention.Baseline(), []plugins.GenerateRequest{{NewTokens: 1}, {NewTokens: 2}},
		func(done, total int) { last = [2]int{done, total} })
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 2}, last)
}

func TestBackendErrorsKeepTheirText(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	remote, p := startBackend(t, plugins.StartOptions{})
	_, err := remote.Loglikelihood(ctx, intervention.Baseline(), []plugins.LoglikelihoodRequest{{Context: testplugins.Fail, Continuation: "tokenize doc 7: empty text"}}, nil)
	require.Error(t, err)
	assert.Equal(t, "backend fake: Loglikelihood: tokenize doc 7: empty text", err.Error())
	assert.NotErrorIs(t, err, plugins.ErrPluginExited)
	assert.NotErrorIs(t, err, plugins.ErrInvalidInput)

	// An input error (the user's to fix) says so across the process line.
	_, err = remote.Loglikelihood(ctx, intervention.Baseline(), []plugins.LoglikelihoodRequest{{Context: testplugins.Input, Continuation: "token id 9000 is outside the vocabulary"}}, nil)
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	assert.Equal(t, "backend fake: Loglikelihood: token id 9000 is outside the vocabulary", err.Error())

	_, err = remote.Load(ctx, plugins.LoadRequest{ModelDir: "__missing__/pythia"})
	require.Error(t, err)
	assert.Equal(t, "backend fake: Load: load __missing__/pythia: no config.json there", err.Error())
	assert.False(t, p.Exited(), "a plugin error must not end the process")
	_, err = remote.Capabilities(ctx)
	assert.NoError(t, err)
}

func TestStartOptionsEnvOverridesHostEnv(t *testing.T) {
	t.Setenv("FAKE_BACKEND_VERSION", "from-host")
	ctx := ctxTimeout(t, 30*time.Second)
	inherit, _ := startBackend(t, plugins.StartOptions{})
	c, err := inherit.Capabilities(ctx)
	require.NoError(t, err)
	assert.Equal(t, "from-host", c.Version)

	override, _ := startBackend(t, plugins.StartOptions{Env: []string{"FAKE_BACKEND_VERSION=7.7"}})
	c, err = override.Capabilities(ctx)
	require.NoError(t, err)
	assert.Equal(t, "7.7", c.Version)
}

func TestContextCancelAbortsCall(t *testing.T) {
	logger, logs := newHostLogger()
	remote, p := startBackend(t, plugins.StartOptions{Logger: logger})
	block := []plugins.LoglikelihoodRequest{{Context: testplugins.Block}}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := remote.Loglikelihood(ctx, intervention.Baseline(), block, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "backend fake: Loglikelihood")
	assert.Less(t, time.Since(start), 5*time.Second)
	// The plugin saw its stream's context end (it logs so).
	require.Eventually(t, func() bool { return contains(logs.String(), testplugins.LogCancelled) },
		5*time.Second, 10*time.Millisecond, "plugin did not see the cancellation; host log:\n%s", logs)

	// A deadline works the same way.
	dctx, dcancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer dcancel()
	_, err = remote.Loglikelihood(dctx, intervention.Baseline(), block, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// The plugin is still alive and usable.
	assert.False(t, p.Exited())
	_, err = remote.Capabilities(ctxTimeout(t, 10*time.Second))
	assert.NoError(t, err)
}

// Inspect describes a model without loading it; a plugin that cannot
// answers ErrNotSupported, and a bad folder is an input error.
func TestInspect(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	remote, _ := startBackend(t, plugins.StartOptions{})
	in, ok := remote.(plugins.Inspector)
	require.True(t, ok, "the host's Backend always has Inspect")
	req := plugins.LoadRequest{ModelDir: "/models/pythia", DType: "float16"}
	info, err := in.Inspect(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, testplugins.LoadedModel(req), info)
	caps, err := remote.Capabilities(ctx)
	require.NoError(t, err)
	assert.Nil(t, caps.Model, "Inspect loads nothing")

	_, err = in.Inspect(ctx, plugins.LoadRequest{ModelDir: "__uninspectable__/m"})
	assert.ErrorIs(t, err, plugins.ErrNotSupported)
	assert.Equal(t, "backend fake: Inspect: not supported by this plugin", err.Error())
	_, err = in.Inspect(ctx, plugins.LoadRequest{ModelDir: "__missing__/m"})
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	assert.ErrorContains(t, err, "inspect __missing__/m: no config.json there")
}
