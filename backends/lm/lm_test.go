package lm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// charTokenizer encodes each byte as its own id, except that "ab" merges
// into id 300 — enough to show that pairs are encoded whole.
type charTokenizer struct{}

func (charTokenizer) Encode(s string) []int32 {
	var ids []int32
	for i := 0; i < len(s); i++ {
		if i+1 < len(s) && s[i] == 'a' && s[i+1] == 'b' {
			ids = append(ids, 300)
			i++
			continue
		}
		ids = append(ids, int32(s[i]))
	}
	return ids
}

func (charTokenizer) EOTTokenID() (int32, bool) { return 0, true }

func TestEncodePair(t *testing.T) {
	tok := charTokenizer{}
	cases := []struct {
		ctx, cont     string
		wantCtx       string // as bytes, each an id
		wantCont      []int32
		wantCtxPrefix []int32
	}{
		// Trailing context spaces move to the continuation.
		{ctx: "xy ", cont: "z", wantCtxPrefix: []int32{'x', 'y'}, wantCont: []int32{' ', 'z'}},
		// Python's rstrip also strips \n and \x1c.
		{ctx: "xy\n\x1c", cont: "z", wantCtxPrefix: []int32{'x', 'y'}, wantCont: []int32{'\n', 0x1c, 'z'}},
		// A merge across the boundary: the continuation is ids(ctx+cont)
		// minus len(ids(ctx)), the context stays ids(ctx), as lm-eval
		// feeds them (so "xa"+"bc" is fed as x a c, not x ab c).
		{ctx: "xa", cont: "b", wantCtxPrefix: []int32{'x', 'a'}, wantCont: []int32{}},
		{ctx: "xa", cont: "bc", wantCtxPrefix: []int32{'x', 'a'}, wantCont: []int32{'c'}},
		// Whitespace only: empty once the whitespace moved → end-of-text
		// prefix (lm-eval asserts instead).
		{ctx: " \n", cont: "ab", wantCtxPrefix: []int32{0}, wantCont: []int32{' ', '\n', 300}},
		// Empty context → end-of-text prefix, continuation encoded alone.
		{ctx: "", cont: "ab", wantCtxPrefix: []int32{0}, wantCont: []int32{300}},
	}
	for _, c := range cases {
		p := encodePair(tok, 0, c.ctx, c.cont)
		assert.Equal(t, c.wantCtxPrefix, p.context, "%q|%q", c.ctx, c.cont)
		assert.Equal(t, c.wantCont, append([]int32{}, p.continuation...), "%q|%q", c.ctx, c.cont)
	}
}

// lmEvalWindows is lm-eval's get_rolling_token_windows(context_len=1) +
// make_disjoint_window, transcribed step by step, returning (context,
// continuation) pairs.
func lmEvalWindows(tokens []int32, prefix int32, maxSeqLen int) [][2][]int32 {
	var out [][2][]int32
	if len(tokens) == 0 {
		return nil
	}
	predLen := maxSeqLen
	firstSeqLen := min(maxSeqLen, len(tokens))
	a := append([]int32{prefix}, tokens[:firstSeqLen-1]...)
	b := tokens[:firstSeqLen]
	out = append(out, [2][]int32{a[:len(a)-(len(b)-1)], b})
	predicted := firstSeqLen
	for predicted < len(tokens) {
		wpl := min(len(tokens)-predicted, predLen)
		we := predicted + wpl
		a := tokens[we-maxSeqLen-1 : we-1]
		b := tokens[we-wpl : we]
		out = append(out, [2][]int32{a[:len(a)-(len(b)-1)], b})
		predicted += wpl
	}
	return out
}

func TestRollingWindowsMatchLMEval(t *testing.T) {
	for _, maxLen := range []int{1, 2, 3, 7, 16} {
		for n := 1; n <= 40; n++ {
			tokens := make([]int32, n)
			for i := range tokens {
				tokens[i] = int32(i + 10)
			}
			want := lmEvalWindows(tokens, 0, maxLen)
			got := rollingWindows(append([]int32{0}, tokens...), 1, maxLen)
			require.Len(t, got, len(want), "n=%d maxLen=%d", n, maxLen)
			for k, w := range want {
				seq := append(append([]int32{}, w[0]...), w[1]...)
				assert.Equal(t, seq, got[k].Tokens, "n=%d maxLen=%d window %d", n, maxLen, k)
				assert.Equal(t, len(w[0]), got[k].ScoreFrom, "n=%d maxLen=%d window %d", n, maxLen, k)
				assert.LessOrEqual(t, len(got[k].Tokens)-1, maxLen)
			}
		}
	}
}

func TestRollingWindowsWithContext(t *testing.T) {
	ids := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	got := rollingWindows(ids, 3, 4)
	// Scores tokens 3..9 (7 tokens), at most 4 per window, each window at
	// most 4 inputs + 1 target, each with as much context as fits.
	require.Len(t, got, 2)
	assert.Equal(t, engine.Sequence{Tokens: ids[2:7], ScoreFrom: 1}, got[0])  // scores ids[3:7]
	assert.Equal(t, engine.Sequence{Tokens: ids[5:10], ScoreFrom: 2}, got[1]) // scores ids[7:10]
}

// fakeEngine scores token t at position p as log-prob −(t+p)/1000 and
// records batch sizes; it is deterministic per sequence so batching cannot
// change results.
type fakeEngine struct {
	cfg     modelconfig.Config
	batches []int
	scored  []engine.Sequence // every sequence Score was given
}

func (f *fakeEngine) Config() modelconfig.Config { return f.cfg }
func (f *fakeEngine) Close() error               { return nil }
func (f *fakeEngine) Score(_ context.Context, seqs []engine.Sequence, _ intervention.Intervention) ([]engine.TokenScores, error) {
	f.batches = append(f.batches, len(seqs))
	f.scored = append(f.scored, seqs...)
	out := make([]engine.TokenScores, len(seqs))
	for i, s := range seqs {
		if len(s.Tokens)-1 > f.cfg.MaxPositions {
			return nil, fmt.Errorf("sequence of %d tokens too long", len(s.Tokens))
		}
		for p := s.ScoreFrom; p < len(s.Tokens); p++ {
			out[i].LogProbs = append(out[i].LogProbs, -float32(int(s.Tokens[p])+p)/1000)
			out[i].Entropies = append(out[i].Entropies, float32(p))
			out[i].Greedy = append(out[i].Greedy, s.Tokens[p]%2 == 0)
		}
		if at := slices.Index(s.Tokens, nonFiniteToken); at >= 0 && out[i].NonFinite == nil {
			out[i].NonFinite = &engine.NonFinite{Block: 2, Part: engine.PartMLP, Position: at}
		}
	}
	return out, nil
}

// nonFiniteToken makes the fake engine report a non-finite pass.
const nonFiniteToken = 511

func (f *fakeEngine) Generate(_ context.Context, prefixes [][]int32, n int, _ intervention.Intervention) ([]engine.Generation, error) {
	f.batches = append(f.batches, len(prefixes))
	out := make([]engine.Generation, len(prefixes))
	for i, p := range prefixes {
		for k := range n {
			out[i].IDs = append(out[i].IDs, p[len(p)-1]+int32(k)+1)
			out[i].Entropies = append(out[i].Entropies, 0.5)
		}
		if p[0] == nonFiniteToken {
			out[i].NonFinite = &engine.NonFinite{Block: -1, Part: engine.PartEmbeddings}
		}
	}
	return out, nil
}

// Logits gives logit v of token t as t + v/1000 over a 4-id vocabulary.
func (f *fakeEngine) Logits(_ context.Context, ids [][]int32, _ intervention.Intervention) ([]float32, error) {
	f.batches = append(f.batches, len(ids))
	var out []float32
	for _, s := range ids {
		for _, t := range s {
			for v := range 4 {
				out = append(out, float32(t)+float32(v)/1000)
			}
		}
	}
	return out, nil
}

func newTestBackend(t *testing.T, maxPos, batch int, withTokenizer bool) (*Backend, *fakeEngine) {
	eng := &fakeEngine{cfg: modelconfig.Config{ModelType: "gpt_neox", NumLayers: 4, VocabSize: 512, MaxPositions: maxPos, EOSTokenID: 0}}
	b := New(Config{
		Name: "fake", Version: "0", DTypes: []string{"float32"}, InterventionKinds: intervention.AttentionKinds,
		LoadEngine: func(context.Context, plugins.LoadRequest) (engine.Engine, error) { return eng, nil },
		LoadTokenizer: func(string) (Tokenizer, error) {
			if !withTokenizer {
				return nil, fmt.Errorf("no tokenizer.json in dir")
			}
			return charTokenizer{}, nil
		},
	})
	_, err := b.Load(context.Background(), plugins.LoadRequest{ModelDir: "dir", BatchSize: batch})
	require.NoError(t, err)
	return b, eng
}

func TestLoglikelihoodBatchingDoesNotChangeResults(t *testing.T) {
	reqs := []plugins.LoglikelihoodRequest{
		{Context: "Question: xy\nAnswer:", Continuation: " ab"},
		{Context: "q", Continuation: " longer continuation"},
		{Context: "", Continuation: "z"},
		{Context: strings.Repeat("w", 50), Continuation: " end"}, // left-truncated to the window
	}
	var results [][]plugins.LoglikelihoodResult
	for _, bs := range []int{1, 2, 16} {
		b, _ := newTestBackend(t, 32, bs, true)
		var prog []int
		res, err := b.Loglikelihood(context.Background(), intervention.Baseline(), reqs, func(done, total int) {
			assert.Equal(t, len(reqs), total)
			prog = append(prog, done)
		})
		require.NoError(t, err)
		assert.Equal(t, len(reqs), prog[len(prog)-1])
		assert.IsNonDecreasing(t, prog)
		results = append(results, res)
	}
	assert.Equal(t, results[0], results[1])
	assert.Equal(t, results[0], results[2])
	// Hand check of request 2: context [EOT], continuation "z" at position 1.
	assert.InDelta(t, -float64('z'+1)/1000, results[0][2].LogLikelihood, 1e-6)
	assert.Equal(t, 1, results[0][2].ContextTokens)
	assert.Equal(t, 1, results[0][2].ContinuationTokens)
	// Request 0: " ab" → [' ', 300]; greedy needs both ids even: ' '=32 yes, 300 yes.
	assert.True(t, results[0][0].IsGreedy)
	assert.Equal(t, 2, results[0][0].ContinuationTokens)
}

func TestRollingTextEqualsSumOfWindows(t *testing.T) {
	b, _ := newTestBackend(t, 8, 4, true)
	text := strings.Repeat("abcdefg ", 5) // 35 ids with merges
	res, err := b.LoglikelihoodRolling(context.Background(), intervention.Baseline(),
		[]plugins.RollingRequest{{Text: text}, {IDs: []int32{5, 6, 7, 8}, ContextLen: 1}}, nil)
	require.NoError(t, err)
	ids := charTokenizer{}.Encode(text)
	require.Len(t, res[0].LogProbs, len(ids), "every token scored once")
	require.Len(t, res[1].LogProbs, 3)
	var sum float64
	for _, lp := range res[0].LogProbs {
		sum += float64(lp)
	}
	assert.InDelta(t, sum, res[0].LogLikelihood, 1e-9)
	// The first window predicts ids[0] from EOT at position 1.
	assert.InDelta(t, -float32(int(ids[0])+1)/1000, res[0].LogProbs[0], 1e-7)
}

func TestGenerateAndValidation(t *testing.T) {
	b, eng := newTestBackend(t, 16, 2, false)
	res, err := b.GenerateTokens(context.Background(), intervention.New(intervention.AttnShortCircuit, 3),
		[]plugins.GenerateRequest{{Prefix: []int32{1, 2}, NewTokens: 3}, {Prefix: []int32{7}, NewTokens: 3}, {Prefix: []int32{4, 5}, NewTokens: 3}}, nil)
	require.NoError(t, err)
	assert.Equal(t, []int32{3, 4, 5}, res[0].IDs)
	assert.Equal(t, []int32{8, 9, 10}, res[1].IDs)
	assert.Equal(t, []int32{6, 7, 8}, res[2].IDs)
	assert.Equal(t, []int{2, 1}, eng.batches, "equal-length prefixes batched together")

	ctx := context.Background()
	_, err = b.GenerateTokens(ctx, intervention.Baseline(), []plugins.GenerateRequest{{Prefix: []int32{1, 600}, NewTokens: 1}}, nil)
	assert.ErrorContains(t, err, "generate request 0, position 1: token id 600 is outside the model's vocabulary")
	assert.ErrorIs(t, err, plugins.ErrInvalidInput, "the user's to fix: memscope exits 2")
	_, err = b.GenerateTokens(ctx, intervention.Baseline(), []plugins.GenerateRequest{{Prefix: []int32{1}, NewTokens: 16}}, nil)
	assert.NoError(t, err, "the last new token needs no position")
	_, err = b.GenerateTokens(ctx, intervention.Baseline(), []plugins.GenerateRequest{{Prefix: []int32{1}, NewTokens: 17}}, nil)
	assert.ErrorContains(t, err, "generate request 0: 1 tokens + 17 new need 17 positions (the last new token is not fed back), more than the model's 16")
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	_, err = b.GenerateTokens(ctx, intervention.New(intervention.AttnZero, 4), []plugins.GenerateRequest{{Prefix: []int32{1}, NewTokens: 1}}, nil)
	assert.ErrorContains(t, err, "block 4 does not exist")
	_, err = b.Loglikelihood(ctx, intervention.Baseline(), []plugins.LoglikelihoodRequest{{Context: "a", Continuation: "b"}}, nil)
	assert.ErrorContains(t, err, "no usable tokenizer")
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	_, err = b.LoglikelihoodRolling(ctx, intervention.Baseline(), []plugins.RollingRequest{{IDs: []int32{1, 2}, ContextLen: 3}}, nil)
	assert.ErrorContains(t, err, "context length 3 outside the 2 tokens")
}

// TestLoglikelihoodFeedsLMEvalTokens checks what reaches the model: the
// context's own encoding then the continuation's remainder (a merge across
// the boundary is not fed), and a whitespace-only context conditioned on
// end-of-text instead of an unscorable empty one.
func TestLoglikelihoodFeedsLMEvalTokens(t *testing.T) {
	b, eng := newTestBackend(t, 32, 1, true)
	res, err := b.Loglikelihood(context.Background(), intervention.Baseline(), []plugins.LoglikelihoodRequest{
		{Context: "xa", Continuation: "bc"},
		{Context: "\t ", Continuation: "z"},
	}, nil)
	require.NoError(t, err)
	require.Len(t, eng.scored, 2)
	assert.ElementsMatch(t, []engine.Sequence{
		{Tokens: []int32{'x', 'a', 'c'}, ScoreFrom: 2},
		{Tokens: []int32{0, '\t', ' ', 'z'}, ScoreFrom: 1},
	}, eng.scored)
	assert.Equal(t, 2, res[0].ContextTokens)
	assert.Equal(t, 1, res[0].ContinuationTokens)
	assert.Equal(t, 1, res[1].ContextTokens)
	assert.Equal(t, 3, res[1].ContinuationTokens)
}

// One long text is one rolling request of many windows: progress moves
// window by window (batch by batch), not only when the text is done.
func TestRollingProgressCountsWindows(t *testing.T) {
	b, eng := newTestBackend(t, 8, 1, true)
	text := strings.Repeat("xyz ", 10) // 40 ids: 5 windows of 8
	type report struct{ done, total int }
	var got []report
	_, err := b.LoglikelihoodRolling(context.Background(), intervention.Baseline(),
		[]plugins.RollingRequest{{Text: text}}, func(done, total int) { got = append(got, report{done, total}) })
	require.NoError(t, err)
	require.Len(t, eng.batches, 5)
	assert.Equal(t, []report{{1, 5}, {2, 5}, {3, 5}, {4, 5}, {5, 5}}, got)
}

// Where an engine's pass went non-finite reaches the response: for a
// rolling request, its first window that did.
func TestNonFiniteReachesTheResponse(t *testing.T) {
	b, _ := newTestBackend(t, 8, 4, false)
	ctx := context.Background()
	ids := make([]int32, 30)
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	ids[20] = nonFiniteToken
	res, err := b.LoglikelihoodRolling(ctx, intervention.Baseline(), []plugins.RollingRequest{{IDs: ids}, {IDs: ids[:10]}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "block 2 mlp output at position 5", res[0].NonFinite)
	assert.Empty(t, res[1].NonFinite)
	gen, err := b.GenerateTokens(ctx, intervention.Baseline(), []plugins.GenerateRequest{{Prefix: []int32{nonFiniteToken, 3}, NewTokens: 2}, {Prefix: []int32{1}, NewTokens: 2}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "embeddings at position 0", gen[0].NonFinite)
	assert.Empty(t, gen[1].NonFinite)
}

// Inspect describes a model as Load would, from its configuration and
// tokenizer, without loading the engine; its errors are input errors.
func TestInspect(t *testing.T) {
	cfg := modelconfig.Config{ModelType: "gpt_neox", Architecture: "GPTNeoXForCausalLM", NumLayers: 6, VocabSize: 512, MaxPositions: 32, EOSTokenID: 7}
	loads := 0
	b := New(Config{
		Name: "fake", Version: "0", DTypes: []string{"float32"}, Architectures: []string{"GPTNeoXForCausalLM"},
		LoadEngine: func(context.Context, plugins.LoadRequest) (engine.Engine, error) {
			loads++
			return nil, fmt.Errorf("not used")
		},
		LoadTokenizer: func(string) (Tokenizer, error) { return nil, fmt.Errorf("no tokenizer.json in dir") },
		InspectModel: func(_ context.Context, req plugins.LoadRequest) (modelconfig.Config, error) {
			if req.ModelDir == "bad" {
				return modelconfig.Config{}, fmt.Errorf("bad: config.json has num_hidden_layers = 4 but the weights hold 6 blocks")
			}
			if req.ModelDir == "neo" {
				c := cfg
				c.Architecture = "GPTNeoForCausalLM"
				return c, nil
			}
			return cfg, nil
		},
	})
	info, err := b.Inspect(context.Background(), plugins.LoadRequest{ModelDir: "m"})
	require.NoError(t, err)
	assert.Equal(t, plugins.ModelInfo{Architecture: "GPTNeoXForCausalLM", ModelType: "gpt_neox", NumLayers: 6, VocabSize: 512, MaxPositions: 32,
		EOTTokenID: 7, DType: "float32", TokenizerError: "no tokenizer.json in dir"}, info)
	assert.Zero(t, loads)
	_, err = b.Inspect(context.Background(), plugins.LoadRequest{ModelDir: "bad"})
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	_, err = b.Inspect(context.Background(), plugins.LoadRequest{ModelDir: "neo"})
	assert.ErrorContains(t, err, "neo is a GPTNeoForCausalLM; backend fake runs GPTNeoXForCausalLM")
	_, err = b.Inspect(context.Background(), plugins.LoadRequest{ModelDir: "m", DType: "int8"})
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	_, err = New(Config{}).Inspect(context.Background(), plugins.LoadRequest{ModelDir: "m"})
	assert.ErrorIs(t, err, plugins.ErrNotSupported)
}

// HFInspect reads config.json and checks the weights' headers, without
// the weights.
func TestHFInspect(t *testing.T) {
	cfg, err := HFInspect(context.Background(), plugins.LoadRequest{ModelDir: "../testdata/tiny/gptneo-tiny"})
	require.NoError(t, err)
	assert.Equal(t, "GPTNeoForCausalLM", cfg.Architecture)
	_, err = HFInspect(context.Background(), plugins.LoadRequest{ModelDir: t.TempDir()})
	assert.ErrorContains(t, err, "config.json is missing")
}

// Logits go to the engine batchSize sequences at a time, in order, after
// every sequence is checked.
func TestLogitsBatches(t *testing.T) {
	b, eng := newTestBackend(t, 16, 2, false)
	var prog []int
	got, err := b.Logits(context.Background(), intervention.Baseline(), [][]int32{{1, 2}, {3, 4}, {5, 6}}, func(done, total int) {
		assert.Equal(t, 3, total)
		prog = append(prog, done)
	})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 1}, eng.batches)
	assert.Equal(t, []int{2, 3}, prog)
	require.Len(t, got, 3*2*4)
	assert.Equal(t, float32(5.003), got[4*4+3], "sequence 2, token 0, id 3")

	_, err = b.Logits(context.Background(), intervention.Baseline(), [][]int32{{1, 2}, {3, 4}, {5, 512}}, nil)
	assert.ErrorContains(t, err, "sequence 2, position 1: token id 512 is outside")
	assert.ErrorIs(t, err, plugins.ErrInvalidInput)
	assert.Equal(t, []int{2, 1}, eng.batches, "nothing computed for a bad batch")
	_, err = b.Logits(context.Background(), intervention.New(intervention.AttnZero, 4), [][]int32{{1}}, nil)
	assert.ErrorContains(t, err, "block 4 does not exist")
}
