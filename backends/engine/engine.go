// Package engine is the contract every compute engine (cpu, cuda, …)
// implements for a loaded model — teacher-forced scoring, greedy
// generation and raw logits, each under an intervention — and the request
// plumbing they share, so that an engine holds its math and nothing else:
//
//   - Check*: request validation with the messages users see (token ids
//     outside the vocabulary, sequences longer than the model's window,
//     interventions an engine cannot apply);
//   - PlanScore, PlanLogits, PlanGenerate: the split of a call into forward
//     passes within the engine's Limits, as packed rows (Pass) with the
//     bookkeeping of which rows are scored against which targets and, for
//     generation, which sequences share a KV cache and what each decode step
//     feeds.
//
// Tokenization, request batching and lm-eval semantics live above engines
// (backends/lm); model knowledge (config, tensor names, derived settings)
// lives beside them (backends/arch, backends/weights).
//
// # Writing an engine
//
// Implement Engine (and HiddenStater if the engine can return the residual
// stream); in Score, Logits and Generate call the matching Plan function
// and run its passes; build the model from arch.For(cfg).Settings(cfg) and
// weights.Load. Run the conformance kit, backends/engine/enginetest, from
// the engine's own tests with a constructor:
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, func(dir string, lim engine.Limits) (engine.Engine, error) {
//			return mine.Load(dir, mine.Options{Limits: lim})
//		})
//	}
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
// composition change nothing beyond float rounding of the matrix
// kernels), and must refuse what the Check functions refuse, with their
// messages. Methods may be called from several goroutines.
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

// HiddenStater is an Engine that can also return the residual stream, in
// HF's hidden_states convention: L+1 arrays [len(ids)][T][D] (0 = the
// embeddings, i = after block i−1 for i < L, L = after the final layer
// norm), for sequences that all have the same length T. Optional: the
// conformance kit checks it where an engine has it.
type HiddenStater interface {
	HiddenStates(ctx context.Context, ids [][]int32, iv intervention.Intervention) ([][]float32, error)
}

// Default limits.
const (
	DefaultMaxBatchTokens       = 4096
	DefaultMaxCacheBytes  int64 = 1 << 30
)

// Limits bound the memory one engine call takes; zero fields mean the
// defaults.
type Limits struct {
	// MaxBatchTokens bounds how many tokens one forward pass holds
	// (activations): bigger requests are split into passes of whole
	// sequences. A single longer sequence still runs, alone.
	MaxBatchTokens int
	// MaxCacheBytes bounds the KV cache of one generation group: prefixes
	// are generated together (one decode step feeds them all) as long as
	// their caches fit.
	MaxCacheBytes int64
}

// WithDefaults fills zero fields with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBatchTokens == 0 {
		l.MaxBatchTokens = DefaultMaxBatchTokens
	}
	if l.MaxCacheBytes == 0 {
		l.MaxCacheBytes = DefaultMaxCacheBytes
	}
	return l
}
