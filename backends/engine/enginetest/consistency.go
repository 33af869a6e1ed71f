package enginetest

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

func randomIDs(rng *rand.Rand, n, vocab int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(vocab))
	}
	return out
}

// interventions covers every attention mode, on one block and on several.
var interventions = []intervention.Intervention{
	intervention.Baseline(),
	intervention.New(intervention.AttnShortCircuit, 1),
	intervention.New(intervention.AttnShortCircuit, 0, 2, 3),
	intervention.New(intervention.AttnZero, 2),
}

// logSoftmaxRef computes log p and entropy of a logits row in float64.
func logSoftmaxRef(z []float32) (logp []float64, entropy float64, argmax int) {
	m := math.Inf(-1)
	for i, v := range z {
		if float64(v) > m {
			m, argmax = float64(v), i
		}
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	logp = make([]float64, len(z))
	for i, v := range z {
		logp[i] = float64(v) - m - math.Log(s)
		entropy -= math.Exp(logp[i]) * logp[i]
	}
	return logp, entropy, argmax
}

// scoreEqualsLogits: Score's log-probs, entropies and greedy flags equal
// what the full logits give, for variable-length sequences scored
// together, under every intervention kind.
func (k Kit) scoreEqualsLogits(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneo-tiny"} {
		m := k.tiny(t, name, engine.Limits{})
		V := m.Config().VocabSize
		rng := rand.New(rand.NewPCG(1, 2))
		lens := []int{5, 40, 17, 1, 64, 23}
		seqs := make([]engine.Sequence, len(lens))
		for i, n := range lens {
			seqs[i] = engine.Sequence{Tokens: randomIDs(rng, n, V), ScoreFrom: max(1, n/3)}
		}
		for _, iv := range interventions {
			got, err := m.Score(ctx, seqs, iv)
			require.NoError(t, err)
			require.Len(t, got, len(seqs))
			for i, s := range seqs {
				logits, err := m.Logits(ctx, [][]int32{s.Tokens}, iv)
				require.NoError(t, err)
				n := len(s.Tokens) - s.ScoreFrom
				require.Len(t, got[i].LogProbs, n)
				require.Len(t, got[i].Entropies, n)
				require.Len(t, got[i].Greedy, n)
				for j := 0; j < n; j++ {
					p := s.ScoreFrom + j
					logp, ent, am := logSoftmaxRef(logits[(p-1)*V : p*V])
					tok := s.Tokens[p]
					assert.InDelta(t, logp[tok], got[i].LogProbs[j], k.BatchTol(logp[tok]), "%s %s seq %d pos %d", name, iv, i, p)
					assert.InDelta(t, ent, got[i].Entropies[j], k.BatchTol(ent))
					assert.Equal(t, am == int(tok), got[i].Greedy[j])
				}
			}
		}
	}
}

// batchComposition: a sequence gets the same numbers alone, in a batch of
// mixed lengths, and when the batch is split into passes of at most 50
// tokens.
func (k Kit) batchComposition(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
		whole := k.tiny(t, name, engine.Limits{})
		split := k.tiny(t, name, engine.Limits{MaxBatchTokens: 50})
		V := whole.Config().VocabSize
		rng := rand.New(rand.NewPCG(3, 4))
		var seqs []engine.Sequence
		for _, n := range []int{30, 2, 70, 11, 45, 128} {
			seqs = append(seqs, engine.Sequence{Tokens: randomIDs(rng, n, V), ScoreFrom: 1})
		}
		iv := intervention.New(intervention.AttnShortCircuit, 3)
		batched, err := whole.Score(ctx, seqs, iv)
		require.NoError(t, err)
		grouped, err := split.Score(ctx, seqs, iv)
		require.NoError(t, err)
		worst, worstScaled := 0.0, 0.0
		for i, s := range seqs {
			alone, err := whole.Score(ctx, []engine.Sequence{s}, iv)
			require.NoError(t, err)
			for _, other := range []engine.TokenScores{batched[i], grouped[i]} {
				worst = max(worst, maxAbsDiff(t, other.LogProbs, alone[0].LogProbs), maxAbsDiff(t, other.Entropies, alone[0].Entropies))
				worstScaled = max(worstScaled, k.maxScaledDiff(other.LogProbs, alone[0].LogProbs), k.maxScaledDiff(other.Entropies, alone[0].Entropies))
				assert.Equal(t, alone[0].Greedy, other.Greedy)
			}
		}
		t.Logf("%s: max |Δ| between a sequence alone and in a batch: %.3g", name, worst)
		assert.LessOrEqual(t, worstScaled, 1.0, "differences beyond kernel rounding")
	}
}

// generateEqualsFullForward: KV-cache greedy generation from prefixes of
// different lengths equals the argmax of a full forward over
// prefix+generated tokens at every step, and the reported entropies are
// those of the full forward's distributions; for every intervention kind
// and for GPT-Neo past its local window.
func (k Kit) generateEqualsFullForward(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneo-tiny"} {
		m := k.tiny(t, name, engine.Limits{})
		V := m.Config().VocabSize
		rng := rand.New(rand.NewPCG(7, 8))
		prefixes := [][]int32{randomIDs(rng, 3, V), randomIDs(rng, 12, V), randomIDs(rng, 1, V), randomIDs(rng, 7, V)}
		const newTok = 15
		for _, iv := range interventions {
			gens, err := m.Generate(ctx, prefixes, newTok, iv)
			require.NoError(t, err)
			require.Len(t, gens, len(prefixes))
			for i, pre := range prefixes {
				g := gens[i]
				require.Len(t, g.IDs, newTok)
				require.Len(t, g.Entropies, newTok)
				full := append(append([]int32(nil), pre...), g.IDs...)
				logits, err := m.Logits(ctx, [][]int32{full}, iv)
				require.NoError(t, err)
				for j := 0; j < newTok; j++ {
					p := len(pre) + j - 1 // position whose logits chose token j
					_, ent, am := logSoftmaxRef(logits[p*V : (p+1)*V])
					assert.Equal(t, int32(am), g.IDs[j], "%s %s prefix %d step %d", name, iv, i, j)
					assert.InDelta(t, ent, g.Entropies[j], k.BatchTol(ent))
				}
			}
		}
	}
}

// generateSplit: splitting a generation into forward passes (token
// budget) or into separately cached groups (KV budget) changes nothing;
// zero new tokens gives empty results.
func (k Kit) generateSplit(t *testing.T) {
	ctx := context.Background()
	whole := k.tiny(t, "gptneox-tiny", engine.Limits{})
	split := k.tiny(t, "gptneox-tiny", engine.Limits{MaxBatchTokens: 20})
	// a KV budget of 30 float32 tokens (4 layers × k,v × 64 dims × 4 bytes each)
	alone := k.tiny(t, "gptneox-tiny", engine.Limits{MaxCacheBytes: 30 * 4 * 2 * 64 * 4})
	rng := rand.New(rand.NewPCG(9, 10))
	var prefixes [][]int32
	for _, n := range []int{4, 9, 2, 14, 6} {
		prefixes = append(prefixes, randomIDs(rng, n, 384))
	}
	iv := intervention.New(intervention.AttnShortCircuit, 2)
	a, err := whole.Generate(ctx, prefixes, 10, iv)
	require.NoError(t, err)
	for _, other := range []engine.Engine{split, alone} {
		b, err := other.Generate(ctx, prefixes, 10, iv)
		require.NoError(t, err)
		for i := range a {
			assert.Equal(t, a[i].IDs, b[i].IDs)
			assert.LessOrEqual(t, k.maxScaledDiff(a[i].Entropies, b[i].Entropies), 1.0)
		}
	}
	none, err := whole.Generate(ctx, prefixes, 0, iv)
	require.NoError(t, err)
	assert.Len(t, none, len(prefixes))
	assert.Empty(t, none[0].IDs)
}

// generateSuppress checks engine.OptionsGenerator where the engine has
// it: with Suppress the token never appears, and every step is the argmax
// (and entropy) of the full forward's logits with that token removed, as
// Hugging Face's min_new_tokens logits processor does to end-of-text.
func (k Kit) generateSuppress(t *testing.T) {
	ctx := context.Background()
	e := k.tiny(t, "gptneox-tiny", engine.Limits{})
	m, ok := e.(engine.OptionsGenerator)
	if !ok {
		t.Skip("the engine has no GenerateWith (engine.OptionsGenerator): suppressing end-of-text is refused for it")
	}
	V := e.Config().VocabSize
	rng := rand.New(rand.NewPCG(9, 10))
	prefixes := [][]int32{randomIDs(rng, 5, V), randomIDs(rng, 9, V)}
	const newTok = 12
	base := intervention.Baseline()
	plain, err := e.Generate(ctx, prefixes, newTok, base)
	require.NoError(t, err)
	suppress := plain[0].IDs[0] // the token plain greedy picks first: suppressing it must change the path
	gens, err := m.GenerateWith(ctx, prefixes, newTok, base, engine.GenerateOptions{Suppress: suppress})
	require.NoError(t, err)
	assert.NotEqual(t, plain[0].IDs[0], gens[0].IDs[0])
	for i, pre := range prefixes {
		g := gens[i]
		assert.NotContains(t, g.IDs, suppress)
		full := append(append([]int32(nil), pre...), g.IDs...)
		logits, err := e.Logits(ctx, [][]int32{full}, base)
		require.NoError(t, err)
		for j := 0; j < newTok; j++ {
			p := len(pre) + j - 1
			row := append([]float32(nil), logits[p*V:(p+1)*V]...)
			row[suppress] = -3e38 // finite, so the reference needs no special case for -inf
			_, ent, am := logSoftmaxRef(row)
			assert.Equal(t, int32(am), g.IDs[j], "prefix %d step %d", i, j)
			assert.InDelta(t, ent, g.Entropies[j], k.BatchTol(ent))
		}
	}
	_, err = m.GenerateWith(ctx, prefixes, 1, base, engine.GenerateOptions{Suppress: int32(V)})
	assert.Error(t, err, "a token outside the vocabulary cannot be suppressed")
}
