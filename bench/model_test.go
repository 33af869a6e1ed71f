package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/memscope/memscope/backends/cpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// The shapes of the PyTorch anchor (see doc.go): a forward
// of 8 × 64 tokens with logits at every position, and greedy generation of
// 32 tokens after a 32-token prefix for 8 sequences.
const (
	fwdBatch, fwdTokens = 8, 64
	genBatch, genPrefix = 8, 32
	genNew              = 32
)

var (
	pythiaOnce  sync.Once
	pythia160M  *cpu.Model
	pythiaError error
)

// pythia returns a random-weight model of Pythia-160M's shape, built once
// per process (about 650 MB of float32 weights).
func pythia(b *testing.B) *cpu.Model {
	b.Helper()
	pythiaOnce.Do(func() {
		pythia160M, pythiaError = cpu.NewRandom(cpu.Pythia160MConfig(), 0, cpu.Options{})
	})
	if pythiaError != nil {
		b.Fatal(pythiaError)
	}
	return pythia160M
}

func randomBatch(rng *rand.Rand, batch, tokens, vocab int) [][]int32 {
	out := make([][]int32, batch)
	for i := range out {
		out[i] = make([]int32, tokens)
		for j := range out[i] {
			out[i][j] = int32(rng.IntN(vocab))
		}
	}
	return out
}

// BenchmarkForwardPythia160M: full forward, logits at every position (what
// the anchor measures).
func BenchmarkForwardPythia160M(b *testing.B) {
	m := pythia(b)
	ids := randomBatch(rand.New(rand.NewPCG(1, 2)), fwdBatch, fwdTokens, m.Config().VocabSize)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Logits(ctx, ids, intervention.Baseline()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fwdBatch*fwdTokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkScorePythia160M: the same 8 × 64 tokens scored the way lm-eval
// requests are (a 48-token context and a 16-token continuation): the
// unembedding runs only at the 16 scored positions. tokens/s counts every
// token of the sequences.
func BenchmarkScorePythia160M(b *testing.B) {
	m := pythia(b)
	ids := randomBatch(rand.New(rand.NewPCG(1, 2)), fwdBatch, fwdTokens, m.Config().VocabSize)
	seqs := make([]engine.Sequence, len(ids))
	for i, s := range ids {
		seqs[i] = engine.Sequence{Tokens: s, ScoreFrom: fwdTokens - 16}
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Score(ctx, seqs, intervention.Baseline()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fwdBatch*fwdTokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkGreedyPythia160M: greedy generation with the KV cache; tokens/s
// counts new tokens (the anchor's "new tokens/s").
func BenchmarkGreedyPythia160M(b *testing.B) {
	m := pythia(b)
	prefixes := randomBatch(rand.New(rand.NewPCG(3, 4)), genBatch, genPrefix, m.Config().VocabSize)
	ctx := context.Background()
	for _, iv := range []intervention.Intervention{intervention.Baseline(), intervention.New(intervention.AttnShortCircuit, 11)} {
		name := "base"
		if !iv.IsBaseline() {
			name = "attn-sc-11"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Generate(ctx, prefixes, genNew, iv); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(genBatch*genNew)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
