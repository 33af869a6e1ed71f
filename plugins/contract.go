// Package plugins is the contract between the memscope harness and its
// plugins: model backends and tasks, each a hashicorp/go-plugin subprocess
// spoken to over gRPC. The harness and the plugins see only the plain Go
// types and interfaces in this file; the protobuf types stay inside the
// package.
//
// The backend side follows lm-evaluation-harness's LM interface: every call
// takes a whole list of requests plus the intervention to apply, and returns
// one result per request, in order. Tasks describe themselves, produce
// requests from their data, and score the responses.
package plugins

import (
	"context"

	"github.com/memscope/memscope/intervention"
)

// Progress is called as a long call advances: done of total items finished.
// It may be nil.
type Progress func(done, total int)

// ---------------------------------------------------------------- backends

// Backend runs a model. One backend process serves one loaded model at a time.
type Backend interface {
	// Capabilities says what the backend supports; Model is set once a
	// model is loaded.
	Capabilities(ctx context.Context) (Capabilities, error)
	// Load opens a Hugging Face model folder (config.json, safetensors,
	// tokenizer) and makes it the current model.
	Load(ctx context.Context, req LoadRequest) (ModelInfo, error)
	// Loglikelihood scores continuations given contexts (lm-eval's
	// loglikelihood, with its _encode_pair rules).
	Loglikelihood(ctx context.Context, iv intervention.Intervention, reqs []LoglikelihoodRequest, progress Progress) ([]LoglikelihoodResult, error)
	// LoglikelihoodRolling gives per-token log-probabilities of whole texts
	// or token sequences (lm-eval's loglikelihood_rolling).
	LoglikelihoodRolling(ctx context.Context, iv intervention.Intervention, reqs []RollingRequest, progress Progress) ([]RollingResult, error)
	// GenerateTokens continues token prefixes greedily.
	GenerateTokens(ctx context.Context, iv intervention.Intervention, reqs []GenerateRequest, progress Progress) ([]GenerateResult, error)
	// Logits runs token ids forward and returns the raw float32 logits
	// [len(ids)][T][VocabSize] flattened row-major, for sequences that all
	// have one length T (memscope forward). progress counts sequences.
	Logits(ctx context.Context, iv intervention.Intervention, ids [][]int32, progress Progress) ([]float32, error)
}

// Inspector is a Backend that can describe a model folder as Load would,
// without loading its weights: the configuration, vocabulary and tokenizer
// (ModelInfo.TokenizerError), with whatever checks of the weights' layout
// are cheap. The host checks the whole plan with it before any model work.
// The host's Backend always has the method; it returns an error wrapping
// ErrNotSupported when the plugin does not implement it.
type Inspector interface {
	Inspect(ctx context.Context, req LoadRequest) (ModelInfo, error)
}

// Capabilities describes a backend and, once loaded, its model.
type Capabilities struct {
	Name              string              `json:"name"`               // "cpu"
	Version           string              `json:"version"`            // what it computes: cached answers are keyed on it, so change it when numbers may change, not per build
	Architectures     []string            `json:"architectures"`      // HF architectures: "GPTNeoXForCausalLM", "GPTNeoForCausalLM"
	DTypes            []string            `json:"dtypes"`             // compute dtypes it accepts in Load: "float32"
	InterventionKinds []intervention.Kind `json:"intervention_kinds"` // kinds it can apply
	Model             *ModelInfo          `json:"model,omitempty"`    // nil until a model is loaded
	// Compute says what does the math on this machine and how it was
	// chosen ("OpenBLAS 0.3.21, Cooperlake kernels (chosen by memscope:
	// …)"); runs record it in their provenance. Not part of the cache key:
	// it may change rounding, not results (Version covers those).
	Compute string `json:"compute,omitempty"`
	// Unavailable says why the backend cannot run models on this machine
	// ("" when it can): a GPU backend without a GPU says what is missing.
	Unavailable string `json:"unavailable,omitempty"`
}

// LoadRequest names the model folder and how to run it.
type LoadRequest struct {
	ModelDir  string // HF folder: config.json + model.safetensors (or shards) + tokenizer
	DType     string // compute dtype; "" means the backend's default ("float32")
	Threads   int    // compute threads; 0 means all cores
	BatchSize int    // sequences per forward pass; 0 means the backend's default
	// AllowNonFiniteWeights loads weights holding NaN or ±Inf (with a
	// warning) instead of refusing them (the error names the tensors).
	AllowNonFiniteWeights bool
}

// ModelInfo describes the loaded model.
type ModelInfo struct {
	Architecture string `json:"architecture"` // HF architecture, e.g. "GPTNeoXForCausalLM"
	ModelType    string `json:"model_type"`   // config.json model_type: "gpt_neox" or "gpt_neo"
	NumLayers    int    `json:"num_layers"`
	HiddenSize   int    `json:"hidden_size"`
	VocabSize    int    `json:"vocab_size"`
	MaxPositions int    `json:"max_positions"` // longest sequence the model takes
	EOTTokenID   int32  `json:"eot_token_id"`  // end-of-text id, the prefix of an empty context
	DType        string `json:"dtype"`         // compute dtype in use
	Parameters   int64  `json:"parameters"`
	// TokenizerError says why the backend cannot tokenize text for this
	// model ("" when it can); token-id requests still work.
	TokenizerError string `json:"tokenizer_error,omitempty"`
}

// LoglikelihoodRequest is lm-eval's (context, continuation) pair. The
// backend tokenizes: trailing spaces of the context move to the
// continuation; the continuation's ids are ids(context+continuation) minus
// the first len(ids(context)); a context that is empty, or whitespace only
// (empty once its trailing whitespace has moved), is conditioned on the
// end-of-text token.
type LoglikelihoodRequest struct {
	Context      string
	Continuation string
}

// LoglikelihoodResult is the log-probability of the continuation.
type LoglikelihoodResult struct {
	LogLikelihood      float64 // sum of the continuation tokens' log-probs (nats)
	IsGreedy           bool    // every continuation token is the argmax
	ContextTokens      int
	ContinuationTokens int
	// NonFinite says where the forward pass first went NaN or ±Inf (e.g.
	// "block 1 attention output at position 3"); "" when it did not.
	NonFinite string
}

// RollingRequest scores a whole sequence, given as text or as ids (exactly
// one of them). The first ContextLen tokens only condition and are not
// scored; with ContextLen 0 every token is scored and the first is
// conditioned on the end-of-text token, as lm-eval's
// loglikelihood_rolling does. Sequences longer than the model's window are
// scored in lm-eval's rolling windows.
type RollingRequest struct {
	Text       string
	IDs        []int32
	ContextLen int
}

// RollingResult holds one entry per scored token, in order.
type RollingResult struct {
	LogLikelihood float64   // sum of LogProbs
	LogProbs      []float32 // log-prob of each scored token given its prefix
	Entropies     []float32 // entropy (nats) of the next-token distribution that predicted each scored token
	Greedy        []bool    // whether each scored token was the argmax
	NonFinite     string    // as LoglikelihoodResult.NonFinite (its first window that went non-finite)
}

// GenerateRequest asks for NewTokens greedy tokens after Prefix (argmax ties
// go to the lowest id). Generation never stops early: an end-of-text token
// is a token like any other and generation goes on after it.
type GenerateRequest struct {
	Prefix    []int32
	NewTokens int
	// SuppressEOS keeps the model's end-of-text token (config.json's
	// eos_token_id) out of every step: its logit is -inf before the argmax,
	// as in Hugging Face generate with min_new_tokens = max_new_tokens (the
	// memorization script of Menta et al.), and the step's entropy is of the
	// distribution without it.
	SuppressEOS bool
}

// GenerateResult holds the generated ids and, for each step, the entropy
// (nats) of the distribution the token was taken from.
type GenerateResult struct {
	IDs       []int32
	Entropies []float32
	NonFinite string // as LoglikelihoodResult.NonFinite; a step's token is then meaningless (its entropy is NaN)
}

// ------------------------------------------------------------------- tasks

// Task turns a dataset into backend requests and scores the responses.
// Requests and Score must be deterministic given the same options, so a
// task keeps no state between calls.
type Task interface {
	Describe(ctx context.Context) (TaskInfo, error)
	Requests(ctx context.Context, opts TaskOptions) ([]Request, error)
	Score(ctx context.Context, opts TaskOptions, reqs []Request, resps []Response) (Scores, error)
}

// Output types of tasks (lm-eval's names where they exist).
const (
	OutputLoglikelihood        = "loglikelihood"
	OutputMultipleChoice       = "multiple_choice"
	OutputLoglikelihoodRolling = "loglikelihood_rolling"
	OutputGenerateTokens       = "generate_tokens"
)

// Task categories, for the paper's language-vs-reasoning comparison;
// memorization tasks are the other axis of the paper's figures. They are
// also the values of the results tables' task_category column.
const (
	CategoryLanguage     = "language"
	CategoryReasoning    = "reasoning"
	CategoryMemorization = "memorization"
)

// TaskInfo is what Describe returns.
type TaskInfo struct {
	Name        string       `json:"name"`        // e.g. "piqa"; also the plugin's name on the command line
	Version     string       `json:"version"`     // bumped whenever requests or scoring change
	OutputType  string       `json:"output_type"` // one of the Output* constants
	Category    string       `json:"category"`    // CategoryLanguage, CategoryReasoning or CategoryMemorization
	Metrics     []MetricInfo `json:"metrics"`
	DataFiles   []string     `json:"data_files"` // data the task reads by default (embedded copies say "embedded:…")
	Options     []OptionInfo `json:"options"`
	Description string       `json:"description"`
}

// MetricInfo describes one metric a task reports.
type MetricInfo struct {
	Name           string `json:"name"` // "acc", "acc_norm", "perplexity", "exact_match", …
	HigherIsBetter bool   `json:"higher_is_better"`
	PerDoc         bool   `json:"per_doc"` // also reported per document in the docs table
}

// OptionInfo documents a task option settable with --task-opt TASK.KEY=VALUE.
type OptionInfo struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Help    string `json:"help"`
}

// TaskOptions selects the data and documents of a task.
type TaskOptions struct {
	Limit   int        // at most this many documents (0: all), after DocRanges
	Docs    []DocRange // document index ranges to keep (none: all)
	Seed    int64
	Options map[string]string // task-specific options ("data", "prefix_len", …)
}

// DocRange is an inclusive range of document indices.
type DocRange struct{ First, Last int }

// Request is one backend call of a task. Exactly one of the three request
// pointers is set; Kind says which.
type Request struct {
	DocIndex      int // index of the document in the task's data
	Index         int // index of this request within its document (choice number)
	Loglikelihood *LoglikelihoodRequest
	Rolling       *RollingRequest
	Generate      *GenerateRequest
}

// Response answers a Request; the field matching the request's Kind is set.
type Response struct {
	Loglikelihood *LoglikelihoodResult
	Rolling       *RollingResult
	Generate      *GenerateResult
}

// Scores is a task's verdict on one (model, intervention) cell.
type Scores struct {
	Docs    []DocScore
	Metrics []MetricValue
}

// DocScore is one document's (or memorized sample's) outcome.
type DocScore struct {
	DocIndex             int
	Gold                 int       // gold choice; -1 where the task has none
	Prediction           int       // predicted choice; -1 where the task has none
	ChoiceLogLikelihoods []float64 // one per choice (multiple choice); nil otherwise
	Metrics              map[string]float64
}

// MetricValue is an aggregate metric with its standard error (NaN when
// undefined, e.g. n ≤ 1).
type MetricValue struct {
	Name           string
	Value          float64
	Stderr         float64
	N              int
	HigherIsBetter bool
}
