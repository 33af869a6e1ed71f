// Package engine is the interface every compute backend (cpu, cuda)
// implements for a loaded model: teacher-forced scoring, greedy generation
// and raw logits, each under an intervention. Tokenization, request
// batching and lm-eval semantics live above it (backends/lm).
package engine

import (
	"context"

	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// Sequence is one token sequence to score teacher-forced: the engine
// returns statistics of the prediction of each token Tokens[p] for
// p in [ScoreFrom, len(Tokens)), from the logits at position p-1.
// ScoreFrom must be ≥ 1. The last token is only a target, so a sequence
// may hold MaxPositions+1 tokens (lm-eval's (context+continuation)
// [-(max_length+1):] window).
type Sequence struct {
	Tokens    []int32
	ScoreFrom int
}

// TokenScores holds, for each scored token in order:
type TokenScores struct {
	LogProbs  []float32 // log p(token | prefix)
	Entropies []float32 // entropy (nats) of the full next-token distribution
	Greedy    []bool    // token is the argmax (ties go to the lowest id)
	// NonFinite is where the sequence's forward pass first went NaN or
	// ±Inf (see numerics.go); nil when every value stayed finite.
	NonFinite *NonFinite
}

// Generation is a greedy continuation.
type Generation struct {
	IDs       []int32   // the new tokens
	Entropies []float32 // entropy (nats) of the distribution each was taken from
	// NonFinite is where the prefill or a decode step first went NaN or
	// ±Inf (see numerics.go); nil when every value stayed finite.
	NonFinite *NonFinite
}

// GenerateOptions are the settings of a generation beyond plain greedy
// decoding.
type GenerateOptions struct {
	// Suppress is a token id that is never generated: its logit is -inf
	// before every step's argmax, and the step's entropy is of the
	// distribution without it. -1: none.
	Suppress int32
}

// OptionsGenerator is an Engine whose generation takes GenerateOptions
// (backends check for it; an engine without it can only generate plainly).
type OptionsGenerator interface {
	GenerateWith(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention, opt GenerateOptions) ([]Generation, error)
}

// Engine runs one loaded model. Implementations must give every sequence
// the same numbers whatever else is in its batch (padding and batch
// composition change nothing beyond float rounding of the BLAS kernels).
type Engine interface {
	Config() modelconfig.Config
	// Score scores the sequences (of up to MaxPositions+1 tokens) teacher-forced.
	Score(ctx context.Context, seqs []Sequence, iv intervention.Intervention) ([]TokenScores, error)
	// Generate continues each prefix by newTokens greedy tokens, with a KV
	// cache; the intervention applies in prefill and in every decode step.
	Generate(ctx context.Context, prefixes [][]int32, newTokens int, iv intervention.Intervention) ([]Generation, error)
	// Logits returns float32 logits [len(ids)][T][VocabSize] flattened
	// row-major, for sequences that all have the same length T.
	Logits(ctx context.Context, ids [][]int32, iv intervention.Intervention) ([]float32, error)
	// Close releases the model's memory.
	Close() error
}
