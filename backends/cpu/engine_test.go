package cpu

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// batchTol bounds differences that only BLAS kernel rounding may cause
// when the same sequence runs in a different batch (OpenBLAS's edge
// kernels round differently depending on where a row falls in a tile):
// 1e-5 absolute plus 1e-6 relative (GPT-Neo's tied unembedding gives
// logits near 50, where a float32 ulp is 4e-6).
func batchTol(ref float64) float64 { return 1e-5 + 1e-6*math.Abs(ref) }

// maxScaledDiff is the largest |got−want| / batchTol(want).
func maxScaledDiff(got, want []float32) float64 {
	var m float64
	for i := range got {
		m = max(m, math.Abs(float64(got[i])-float64(want[i]))/batchTol(float64(want[i])))
	}
	return m
}

func loadTiny(t *testing.T, name string, opts Options) *Model {
	t.Helper()
	m, err := Load(filepath.Join(tinyDir, name), opts)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func randomIDs(rng *rand.Rand, n, vocab int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(vocab))
	}
	return out
}

var testInterventions = []intervention.Intervention{
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

// TestScoreAgreesWithLogits: Score's log-probs, entropies and greedy flags
// equal what the full logits give, for variable-length sequences scored
// together, under every intervention kind.
func TestScoreAgreesWithLogits(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneo-tiny"} {
		m := loadTiny(t, name, Options{})
		V := m.Config().VocabSize
		rng := rand.New(rand.NewPCG(1, 2))
		lens := []int{5, 40, 17, 1, 64, 23}
		seqs := make([]engine.Sequence, len(lens))
		for i, n := range lens {
			seqs[i] = engine.Sequence{Tokens: randomIDs(rng, n, V), ScoreFrom: max(1, n/3)}
		}
		for _, iv := range testInterventions {
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
					assert.InDelta(t, logp[tok], got[i].LogProbs[j], batchTol(logp[tok]), "%s %s seq %d pos %d", name, iv, i, p)
					assert.InDelta(t, ent, got[i].Entropies[j], batchTol(ent))
					assert.Equal(t, am == int(tok), got[i].Greedy[j])
				}
			}
		}
	}
}

// TestBatchCompositionInvariance: a sequence gets the same numbers alone,
// in a batch of mixed lengths, and when the batch is split into groups.
func TestBatchCompositionInvariance(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
		whole := loadTiny(t, name, Options{})
		split := loadTiny(t, name, Options{MaxBatchTokens: 50})
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
				worstScaled = max(worstScaled, maxScaledDiff(other.LogProbs, alone[0].LogProbs), maxScaledDiff(other.Entropies, alone[0].Entropies))
				assert.Equal(t, alone[0].Greedy, other.Greedy)
			}
		}
		t.Logf("%s: max |Δ| between a sequence alone and in a batch: %.3g", name, worst)
		assert.LessOrEqual(t, worstScaled, 1.0, "differences beyond BLAS rounding")
	}
}

// TestChunkedAttention: processing queries in chunks (as long contexts
// do) gives the same hidden states as one block. (Hidden states, not
// logits: GPT-Neo's tiny model has unembedding weights that turn 1-ulp
// differences of the residual stream into 3e-5 on logits near 50.)
func TestChunkedAttention(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
		m := loadTiny(t, name, Options{})
		rng := rand.New(rand.NewPCG(5, 6))
		ids := [][]int32{randomIDs(rng, 100, m.Config().VocabSize)}
		want, err := m.HiddenStates(ctx, ids, intervention.Baseline())
		require.NoError(t, err)
		saved := scoreBudget
		scoreBudget = 700 // 7 query rows per chunk at 100 keys
		got, err := m.HiddenStates(ctx, ids, intervention.Baseline())
		scoreBudget = saved
		require.NoError(t, err)
		for l := range want {
			assert.LessOrEqual(t, maxScaledDiff(got[l], want[l]), 1.0, "%s hidden %d: max |Δ| %.3g", name, l, maxAbsDiff(t, got[l], want[l]))
		}
	}
}

// TestGenerateMatchesFullForward: KV-cache greedy generation from prefixes
// of different lengths equals the argmax of a full forward over
// prefix+generated tokens at every step, and the reported entropies are
// those of the full forward's distributions; for every intervention kind
// and for GPT-Neo past its local window.
func TestGenerateMatchesFullForward(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneo-tiny"} {
		m := loadTiny(t, name, Options{})
		V := m.Config().VocabSize
		rng := rand.New(rand.NewPCG(7, 8))
		prefixes := [][]int32{randomIDs(rng, 3, V), randomIDs(rng, 12, V), randomIDs(rng, 1, V), randomIDs(rng, 7, V)}
		const newTok = 15
		for _, iv := range testInterventions {
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
					assert.InDelta(t, ent, g.Entropies[j], batchTol(ent))
				}
			}
		}
	}
}

// TestGenerateSplitGroups: splitting a generation into forward passes
// (token budget) or into separately cached groups (KV budget) changes
// nothing.
func TestGenerateSplitGroups(t *testing.T) {
	ctx := context.Background()
	whole := loadTiny(t, "gptneox-tiny", Options{})
	split := loadTiny(t, "gptneox-tiny", Options{MaxBatchTokens: 20})
	// a KV budget of 30 tokens (4 layers × k,v × 64 dims × 4 bytes each)
	alone := loadTiny(t, "gptneox-tiny", Options{MaxCacheBytes: 30 * 4 * 2 * 64 * 4})
	rng := rand.New(rand.NewPCG(9, 10))
	var prefixes [][]int32
	for _, n := range []int{4, 9, 2, 14, 6} {
		prefixes = append(prefixes, randomIDs(rng, n, 384))
	}
	iv := intervention.New(intervention.AttnShortCircuit, 2)
	a, err := whole.Generate(ctx, prefixes, 10, iv)
	require.NoError(t, err)
	for _, other := range []*Model{split, alone} {
		b, err := other.Generate(ctx, prefixes, 10, iv)
		require.NoError(t, err)
		for i := range a {
			assert.Equal(t, a[i].IDs, b[i].IDs)
			assert.LessOrEqual(t, maxScaledDiff(a[i].Entropies, b[i].Entropies), 1.0)
		}
	}
	none, err := whole.Generate(ctx, prefixes, 0, iv)
	require.NoError(t, err)
	assert.Len(t, none, len(prefixes))
	assert.Empty(t, none[0].IDs)
}

// TestBadRequests: invalid requests return errors that name the problem.
func TestBadRequests(t *testing.T) {
	ctx := context.Background()
	m := loadTiny(t, "gptneox-tiny", Options{})
	good := []int32{1, 2, 3, 4}
	bad := []int32{1, 2, 384, 4}

	_, err := m.Logits(ctx, [][]int32{good, bad}, intervention.Baseline())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sequence 1, position 2: token id 384")
	_, err = m.Score(ctx, []engine.Sequence{{Tokens: bad, ScoreFrom: 1}}, intervention.Baseline())
	assert.ErrorContains(t, err, "position 2")
	_, err = m.Generate(ctx, [][]int32{{-1}}, 3, intervention.Baseline())
	assert.ErrorContains(t, err, "token id -1")

	_, err = m.Logits(ctx, [][]int32{good}, intervention.New(intervention.AttnShortCircuit, 4))
	assert.ErrorContains(t, err, "block 4 does not exist")
	_, err = m.Generate(ctx, [][]int32{good}, 3, intervention.Intervention{Kind: "attn-scale", Blocks: []int{1}})
	assert.ErrorContains(t, err, "not supported")

	_, err = m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 0}}, intervention.Baseline())
	assert.ErrorContains(t, err, "ScoreFrom 0")
	_, err = m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 5}}, intervention.Baseline())
	assert.ErrorContains(t, err, "ScoreFrom 5")
	empty, err := m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 4}}, intervention.Baseline())
	require.NoError(t, err)
	assert.Empty(t, empty[0].LogProbs)

	// The last token of a scored sequence is only a target: a window of
	// max_position_embeddings+1 tokens fits, one more does not.
	long := make([]int32, 130)
	for i := range long {
		long[i] = int32(i * 7 % 384)
	}
	full, err := m.Score(ctx, []engine.Sequence{{Tokens: long[:129], ScoreFrom: 100}, {Tokens: long[:128], ScoreFrom: 100}}, intervention.Baseline())
	require.NoError(t, err)
	require.Len(t, full[0].LogProbs, 29)
	assert.InDeltaSlice(t, full[1].LogProbs, full[0].LogProbs[:28], 1e-5)
	_, err = m.Score(ctx, []engine.Sequence{{Tokens: long, ScoreFrom: 100}}, intervention.Baseline())
	assert.ErrorContains(t, err, "max_position_embeddings")

	_, err = m.Logits(ctx, [][]int32{good, good[:3]}, intervention.Baseline())
	assert.ErrorContains(t, err, "same length")
	_, err = m.Logits(ctx, [][]int32{make([]int32, 129)}, intervention.Baseline())
	assert.ErrorContains(t, err, "max_position_embeddings")
	// Generation feeds back all new tokens but the last: 120 + 9 fits 128
	// positions, 120 + 10 does not.
	gen9, err := m.Generate(ctx, [][]int32{long[:120]}, 9, intervention.Baseline())
	require.NoError(t, err)
	gen8, err := m.Generate(ctx, [][]int32{long[:120]}, 8, intervention.Baseline())
	require.NoError(t, err)
	require.Len(t, gen9[0].IDs, 9)
	assert.Equal(t, gen8[0].IDs, gen9[0].IDs[:8])
	_, err = m.Generate(ctx, [][]int32{long[:120]}, 10, intervention.Baseline())
	assert.ErrorContains(t, err, "max_position_embeddings")
	_, err = m.Generate(ctx, [][]int32{{}}, 3, intervention.Baseline())
	assert.ErrorContains(t, err, "empty")
	_, err = m.Generate(ctx, [][]int32{good}, -1, intervention.Baseline())
	assert.Error(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Generate(cancelled, [][]int32{good}, 3, intervention.Baseline())
	assert.ErrorIs(t, err, context.Canceled)
	_, err = m.Score(cancelled, []engine.Sequence{{Tokens: good, ScoreFrom: 1}}, intervention.Baseline())
	assert.ErrorIs(t, err, context.Canceled)

	require.NoError(t, m.Close())
	_, err = m.Logits(ctx, [][]int32{good}, intervention.Baseline())
	assert.ErrorIs(t, err, errClosed)
}

// TestLoadErrors: broken model folders fail with errors naming the file or
// tensor.
func TestRandomConfigErrors(t *testing.T) {
	cfg := Pythia160MConfig()
	cfg.ModelType = "llama"
	_, err := NewRandom(cfg, 1, Options{})
	assert.ErrorContains(t, err, "llama")
	cfg = Pythia160MConfig()
	cfg.Activation = "relu"
	_, err = NewRandom(cfg, 1, Options{})
	assert.ErrorContains(t, err, "relu")
	_, err = NewRandom(Pythia160MConfig(), 1, Options{Threads: -1})
	assert.Error(t, err)
}

// TestBLASMatchesGorgonia: the engine's matrix product (OpenBLAS through
// gorgonia's tensor BLAS) agrees with gorgonia's tensor.MatMul and a
// float64 reference.
func TestBLASMatchesGorgonia(t *testing.T) {
	cfg := modelconfig.Config{ModelType: modelconfig.GPTNeoX, VocabSize: 10, HiddenSize: 8, NumLayers: 1, NumHeads: 2,
		IntermediateSize: 16, MaxPositions: 8, LayerNormEps: 1e-5, Activation: modelconfig.ActGELU, RotaryPct: 0.5, RotaryBase: 10000}
	m, err := NewRandom(cfg, 1, Options{})
	require.NoError(t, err)
	t.Logf("BLAS: %s, %d threads", BLASInfo(), m.Threads())
	rng := rand.New(rand.NewPCG(11, 12))
	const R, K, N = 37, 129, 65
	x := make([]float32, R*K)
	w := make([]float32, N*K)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, R*N)
	m.linear(x, R, &linear{w: w, in: K, out: N}, y, actNone)
	a := tensor.New(tensor.WithShape(R, K), tensor.WithBacking(x))
	b := tensor.New(tensor.WithShape(N, K), tensor.WithBacking(append([]float32(nil), w...)))
	require.NoError(t, b.T())
	require.NoError(t, b.Transpose())
	c, err := tensor.MatMul(a, b)
	require.NoError(t, err)
	g := c.Data().([]float32)
	for r := 0; r < R; r++ {
		for n := 0; n < N; n++ {
			var ref float64
			for k := 0; k < K; k++ {
				ref += float64(x[r*K+k]) * float64(w[n*K+k])
			}
			assert.InDelta(t, ref, y[r*N+n], 1e-4)
			assert.InDelta(t, ref, g[r*N+n], 1e-4)
		}
	}
	assert.Equal(t, tensor.WhichBLAS(), m.blas.(tensor.BLAS))
	var _ blas.Float32Level3 = m.blas
}

// TestGenerateSuppressesAToken: with Suppress the token never appears, and
// every step is the argmax (and entropy) of the full forward's logits with
// that token removed, as Hugging Face's min_new_tokens logits processor
// does to end-of-text.
func TestGenerateSuppressesAToken(t *testing.T) {
	ctx := context.Background()
	m := loadTiny(t, "gptneox-tiny", Options{})
	V := m.Config().VocabSize
	rng := rand.New(rand.NewPCG(9, 10))
	prefixes := [][]int32{randomIDs(rng, 5, V), randomIDs(rng, 9, V)}
	const newTok = 12
	plain, err := m.Generate(ctx, prefixes, newTok, testInterventions[0])
	require.NoError(t, err)
	suppress := plain[0].IDs[0] // the token plain greedy picks first: suppressing it must change the path
	gens, err := m.GenerateWith(ctx, prefixes, newTok, testInterventions[0], engine.GenerateOptions{Suppress: suppress})
	require.NoError(t, err)
	assert.NotEqual(t, plain[0].IDs[0], gens[0].IDs[0])
	for i, pre := range prefixes {
		g := gens[i]
		assert.NotContains(t, g.IDs, suppress)
		full := append(append([]int32(nil), pre...), g.IDs...)
		logits, err := m.Logits(ctx, [][]int32{full}, testInterventions[0])
		require.NoError(t, err)
		for j := 0; j < newTok; j++ {
			p := len(pre) + j - 1
			row := append([]float32(nil), logits[p*V:(p+1)*V]...)
			row[suppress] = -3e38 // finite, so the reference needs no special case for -inf
			_, ent, am := logSoftmaxRef(row)
			assert.Equal(t, int32(am), g.IDs[j], "prefix %d step %d", i, j)
			assert.InDelta(t, ent, g.Entropies[j], batchTol(ent))
		}
	}
	_, err = m.GenerateWith(ctx, prefixes, 1, testInterventions[0], engine.GenerateOptions{Suppress: int32(V)})
	assert.ErrorContains(t, err, "cannot suppress token")
}
