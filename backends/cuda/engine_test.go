package cuda

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

// scoreTol bounds float32 rounding between Score's statistics (float32 sums
// on the device) and float64 ones from the same logits: 1e-5 plus 1e-6
// relative (a log-prob of -38 has float32 ulps of 4e-6).
func scoreTol(ref float64) float64 { return 1e-5 + 1e-6*math.Abs(ref) }

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

// TestScoreAgreesWithLogits: Score's log-probs, entropies and greedy flags
// for sequences of mixed lengths (several attention tiles, split into
// passes by a small token budget) equal what each sequence's own logits
// give, under every intervention kind.
func TestScoreAgreesWithLogits(t *testing.T) {
	dev := testDevice(t)
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
		m := loadTiny(t, dev, name, Options{DType: "float32", MaxBatchTokens: 70})
		V := m.Config().VocabSize
		rng := rand.New(rand.NewPCG(1, 2))
		lens := []int{5, 40, 17, 1, 64, 23}
		seqs := make([]engine.Sequence, len(lens))
		for i, n := range lens {
			ids := make([]int32, n)
			for j := range ids {
				ids[j] = int32(rng.IntN(V))
			}
			seqs[i] = engine.Sequence{Tokens: ids, ScoreFrom: max(1, n/3)}
		}
		for _, iv := range []intervention.Intervention{intervention.Baseline(), intervention.New(intervention.AttnShortCircuit, 1),
			intervention.New(intervention.AttnZero, 0, 2)} {
			got, err := m.Score(ctx, seqs, iv)
			require.NoError(t, err)
			for i, s := range seqs {
				logits, err := m.Logits(ctx, [][]int32{s.Tokens}, iv)
				require.NoError(t, err)
				n := len(s.Tokens) - s.ScoreFrom
				require.Len(t, got[i].LogProbs, n)
				for j := 0; j < n; j++ {
					p := s.ScoreFrom + j
					logp, ent, am := logSoftmaxRef(logits[(p-1)*V : p*V])
					tok := s.Tokens[p]
					assert.InDelta(t, logp[tok], got[i].LogProbs[j], scoreTol(logp[tok]), "%s %s seq %d pos %d", name, iv, i, p)
					assert.InDelta(t, ent, got[i].Entropies[j], scoreTol(ent))
					assert.Equal(t, am == int(tok), got[i].Greedy[j])
				}
			}
		}
	}
}

// TestGenerateBatchInvariance: a prefix generates the same tokens alone
// and among others of different lengths, whatever the group size.
func TestGenerateBatchInvariance(t *testing.T) {
	dev := testDevice(t)
	ctx := context.Background()
	m := loadTiny(t, dev, "gptneox-tiny", Options{DType: "float32", MaxBatchTokens: 20, MaxCacheBytes: 40000})
	rng := rand.New(rand.NewPCG(5, 6))
	var prefixes [][]int32
	for _, n := range []int{3, 11, 7, 1} {
		p := make([]int32, n)
		for j := range p {
			p[j] = int32(rng.IntN(m.Config().VocabSize))
		}
		prefixes = append(prefixes, p)
	}
	iv := intervention.New(intervention.AttnShortCircuit, 2)
	all, err := m.Generate(ctx, prefixes, 9, iv)
	require.NoError(t, err)
	for i, p := range prefixes {
		one, err := m.Generate(ctx, [][]int32{p}, 9, iv)
		require.NoError(t, err)
		assert.Equal(t, one[0].IDs, all[i].IDs, "prefix %d", i)
		assert.InDeltaSlice(t, one[0].Entropies, all[i].Entropies, 1e-5)
	}
}

// TestBadRequests: requests the engine cannot run fail with errors.
func TestBadRequests(t *testing.T) {
	dev := testDevice(t)
	ctx := context.Background()
	m := loadTiny(t, dev, "gptneox-tiny", Options{})
	_, err := m.Score(ctx, []engine.Sequence{{Tokens: []int32{1, 2}, ScoreFrom: 0}}, intervention.Baseline())
	assert.ErrorContains(t, err, "ScoreFrom")
	_, err = m.Logits(ctx, [][]int32{{1, 9999}}, intervention.Baseline())
	assert.ErrorContains(t, err, "outside the model's vocabulary")
	_, err = m.Generate(ctx, [][]int32{{1}}, 2, intervention.New(intervention.AttnZero, 7))
	assert.Error(t, err)
	require.NoError(t, m.Close())
	_, err = m.Logits(ctx, [][]int32{{1}}, intervention.Baseline())
	assert.ErrorIs(t, err, errClosed)
}
