// Package fake holds deterministic stand-ins for a backend and two tasks,
// for the harness's tests: in-process, and served as real plugin
// subprocesses by the binaries next to this package
// (memscope-backend-fake, memscope-task-fakemc, memscope-task-fakegen).
//
// The fake backend's answers are a hash of (intervention, request), so
// every cell differs and a wrong cache key or a mixed-up cell shows in the
// tables. It reads num_hidden_layers from the model's config.json.
package fake

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// Environment knobs of the plugin binaries (tests set them through the
// backend's environment).
const (
	// EnvCrashAtCall makes the backend exit (code 3) in the middle of its
	// Nth request-carrying call (1-based).
	EnvCrashAtCall = "MEMSCOPE_FAKE_CRASH_AT_CALL"
	// EnvDelay makes each request take this long (a Go duration).
	EnvDelay = "MEMSCOPE_FAKE_DELAY"
	// EnvCallLog appends one line per request-carrying call to this file.
	EnvCallLog = "MEMSCOPE_FAKE_CALL_LOG"
	// EnvStartLog appends "started NAME" to this file when a fake plugin
	// process starts.
	EnvStartLog = "MEMSCOPE_FAKE_START_LOG"
)

// LogStart records a plugin process start in $MEMSCOPE_FAKE_START_LOG.
func LogStart(name string) {
	if p := os.Getenv(EnvStartLog); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "started %s\n", name)
			f.Close()
		}
	}
}

// Backend is the fake backend.
type Backend struct {
	CrashAtCall int           // 0: never; in-process the call returns an error wrapping plugins.ErrPluginExited
	Delay       time.Duration // per request
	CallLog     string        // file to append call lines to
	NoTokenizer string        // reported as ModelInfo.TokenizerError

	mu        sync.Mutex
	model     *plugins.ModelInfo
	calls     atomic.Int64
	served    atomic.Int64 // requests answered
	inspected atomic.Int64
}

// BackendFromEnv builds the fake backend configured by the Env* variables.
func BackendFromEnv() *Backend {
	b := &Backend{CallLog: os.Getenv(EnvCallLog)}
	b.CrashAtCall, _ = strconv.Atoi(os.Getenv(EnvCrashAtCall))
	b.Delay, _ = time.ParseDuration(os.Getenv(EnvDelay))
	return b
}

// Calls is how many request-carrying calls were made.
func (b *Backend) Calls() int { return int(b.calls.Load()) }

// Served is how many requests were answered.
func (b *Backend) Served() int { return int(b.served.Load()) }

func (b *Backend) Capabilities(context.Context) (plugins.Capabilities, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return plugins.Capabilities{
		Name:              "fake",
		Version:           "1",
		Architectures:     []string{"GPTNeoXForCausalLM"},
		DTypes:            []string{"float32", "float16"},
		InterventionKinds: []intervention.Kind{intervention.AttnShortCircuit, intervention.AttnZero},
		Model:             b.model,
		Compute:           "fake kernels",
	}, nil
}

// modelInfo reads the fake model folder's config.json: num_hidden_layers
// (required), and optionally vocab_size (default 100) and no_tokenizer
// (the ModelInfo.TokenizerError to report, besides b.NoTokenizer).
func (b *Backend) modelInfo(req plugins.LoadRequest) (plugins.ModelInfo, error) {
	data, err := os.ReadFile(filepath.Join(req.ModelDir, "config.json"))
	if err != nil {
		return plugins.ModelInfo{}, fmt.Errorf("load %s: %w", req.ModelDir, err)
	}
	var cfg struct {
		Layers      int    `json:"num_hidden_layers"`
		Vocab       int    `json:"vocab_size"`
		NoTokenizer string `json:"no_tokenizer"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Layers <= 0 {
		return plugins.ModelInfo{}, fmt.Errorf("load %s: config.json has no num_hidden_layers", req.ModelDir)
	}
	if cfg.Vocab <= 0 {
		cfg.Vocab = 100
	}
	if cfg.NoTokenizer == "" {
		cfg.NoTokenizer = b.NoTokenizer
	}
	dtype := req.DType
	if dtype == "" {
		dtype = "float32"
	}
	return plugins.ModelInfo{Architecture: "GPTNeoXForCausalLM", ModelType: "gpt_neox", NumLayers: cfg.Layers,
		HiddenSize: 8, VocabSize: cfg.Vocab, MaxPositions: 64, DType: dtype, Parameters: 1000, TokenizerError: cfg.NoTokenizer}, nil
}

// Inspect implements plugins.Inspector.
func (b *Backend) Inspect(_ context.Context, req plugins.LoadRequest) (plugins.ModelInfo, error) {
	b.inspected.Add(1)
	info, err := b.modelInfo(req)
	if err != nil {
		return info, plugins.InvalidInput(err)
	}
	info.Parameters = 0
	return info, nil
}

// Inspected is how many models Inspect described.
func (b *Backend) Inspected() int { return int(b.inspected.Load()) }

func (b *Backend) Load(_ context.Context, req plugins.LoadRequest) (plugins.ModelInfo, error) {
	info, err := b.modelInfo(req)
	if err != nil {
		return info, err
	}
	b.mu.Lock()
	b.model = &info
	b.mu.Unlock()
	return info, nil
}

// beginCall counts a call, logs it and crashes when told to.
func (b *Backend) beginCall(method string, iv intervention.Intervention, n int) error {
	b.mu.Lock()
	loaded := b.model != nil
	b.mu.Unlock()
	if !loaded {
		return fmt.Errorf("%s: no model loaded", method)
	}
	call := int(b.calls.Add(1))
	if b.CallLog != "" {
		if f, err := os.OpenFile(b.CallLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s %s %d\n", method, iv, n)
			f.Close()
		}
	}
	if b.CrashAtCall > 0 && call == b.CrashAtCall {
		return errCrash
	}
	return nil
}

var errCrash = fmt.Errorf("fake backend crashed on purpose: %w", plugins.ErrPluginExited)

// crash ends the process when served as a plugin; in-process it returns
// the error.
var crash = func() error { return errCrash }

// AsProcess makes a crash exit the process (for the plugin binaries).
func AsProcess() {
	crash = func() error {
		os.Exit(3)
		return nil
	}
}

func (b *Backend) step(ctx context.Context, i, n int, progress plugins.Progress, crashing bool) error {
	if crashing && i == n/2 {
		return crash()
	}
	if b.Delay > 0 {
		select {
		case <-time.After(b.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	b.served.Add(1)
	if progress != nil {
		progress(i+1, n)
	}
	return nil
}

// hash64 mixes the intervention and the parts of a request.
func hash64(iv intervention.Intervention, parts ...string) uint64 {
	h := sha256.New()
	h.Write([]byte(iv.String()))
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%d:%s", len(p), p)
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

func idsString(ids []int32) string {
	b := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint32(b, uint32(id))
	}
	return string(b)
}

// LL is the fake log-likelihood of a continuation under an intervention.
func LL(iv intervention.Intervention, context, continuation string) float64 {
	return -1 - float64(hash64(iv, context, continuation)%1000)/100
}

func (b *Backend) Loglikelihood(ctx context.Context, iv intervention.Intervention, reqs []plugins.LoglikelihoodRequest, progress plugins.Progress) ([]plugins.LoglikelihoodResult, error) {
	err := b.beginCall("loglikelihood", iv, len(reqs))
	crashing := err == errCrash
	if err != nil && !crashing {
		return nil, err
	}
	out := make([]plugins.LoglikelihoodResult, len(reqs))
	for i, r := range reqs {
		if err := b.step(ctx, i, len(reqs), progress, crashing); err != nil {
			return nil, err
		}
		h := hash64(iv, r.Context, r.Continuation)
		out[i] = plugins.LoglikelihoodResult{LogLikelihood: LL(iv, r.Context, r.Continuation), IsGreedy: h%3 == 0,
			ContextTokens: len(r.Context) / 4, ContinuationTokens: max(1, len(r.Continuation)/4)}
	}
	return out, nil
}

func (b *Backend) LoglikelihoodRolling(ctx context.Context, iv intervention.Intervention, reqs []plugins.RollingRequest, progress plugins.Progress) ([]plugins.RollingResult, error) {
	err := b.beginCall("loglikelihood_rolling", iv, len(reqs))
	crashing := err == errCrash
	if err != nil && !crashing {
		return nil, err
	}
	out := make([]plugins.RollingResult, len(reqs))
	for i, r := range reqs {
		if err := b.step(ctx, i, len(reqs), progress, crashing); err != nil {
			return nil, err
		}
		n := len(r.IDs) - r.ContextLen
		key := idsString(r.IDs)
		if r.IDs == nil {
			n, key = len(r.Text), r.Text
		}
		var res plugins.RollingResult
		for j := range max(n, 0) {
			lp := -float32(hash64(iv, key, strconv.Itoa(j))%500) / 100
			res.LogProbs = append(res.LogProbs, lp)
			res.Entropies = append(res.Entropies, -lp/2)
			res.Greedy = append(res.Greedy, lp > -1)
			res.LogLikelihood += float64(lp)
		}
		out[i] = res
	}
	return out, nil
}

// Generated is the fake continuation of a prefix: the baseline and
// interventions on even blocks "remember" (prefix+1 pattern); interventions
// touching an odd block get it wrong from the second token on.
func Generated(iv intervention.Intervention, prefix []int32, n int) []int32 {
	out := make([]int32, n)
	last := int32(0)
	if len(prefix) > 0 {
		last = prefix[len(prefix)-1]
	}
	broken := false
	for _, blk := range iv.Blocks {
		broken = broken || blk%2 == 1
	}
	for j := range out {
		out[j] = last + int32(j) + 1
		if broken && j > 0 {
			out[j] = int32(hash64(iv, idsString(prefix), strconv.Itoa(j)) % 100)
		}
	}
	return out
}

func (b *Backend) GenerateTokens(ctx context.Context, iv intervention.Intervention, reqs []plugins.GenerateRequest, progress plugins.Progress) ([]plugins.GenerateResult, error) {
	err := b.beginCall("generate_tokens", iv, len(reqs))
	crashing := err == errCrash
	if err != nil && !crashing {
		return nil, err
	}
	out := make([]plugins.GenerateResult, len(reqs))
	for i, r := range reqs {
		if err := b.step(ctx, i, len(reqs), progress, crashing); err != nil {
			return nil, err
		}
		ids := Generated(iv, r.Prefix, r.NewTokens)
		ent := make([]float32, len(ids))
		for j := range ent {
			ent[j] = float32(j) / 10
		}
		out[i] = plugins.GenerateResult{IDs: ids, Entropies: ent}
	}
	return out, nil
}

// Logits answers logit v of token t in sequence s as t + v/100 (100
// ids), counting a call like the others.
func (b *Backend) Logits(ctx context.Context, iv intervention.Intervention, ids [][]int32, progress plugins.Progress) ([]float32, error) {
	err := b.beginCall("logits", iv, len(ids))
	crashing := err == errCrash
	if err != nil && !crashing {
		return nil, err
	}
	var out []float32
	for i, s := range ids {
		if err := b.step(ctx, i, len(ids), progress, crashing); err != nil {
			return nil, err
		}
		for _, t := range s {
			for v := range 100 {
				out = append(out, float32(t)+float32(v)/100)
			}
		}
	}
	return out, nil
}

// ------------------------------------------------------------------ tasks

// MC is a fake multiple-choice task ("fakemc"): doc d asks "Question d:"
// with Choices continuations; gold is d mod Choices.
type MC struct{}

func (MC) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name: "fakemc", Version: "1", OutputType: plugins.OutputMultipleChoice, Category: plugins.CategoryReasoning,
		Metrics: []plugins.MetricInfo{{Name: "acc", HigherIsBetter: true, PerDoc: true}},
		Options: []plugins.OptionInfo{
			{Name: "docs", Default: "12", Help: "number of documents"},
			{Name: "choices", Default: "3", Help: "choices per document"},
		},
		Description: "fake multiple choice for harness tests",
	}, nil
}

func intOption(opts plugins.TaskOptions, name string, def int) (int, error) {
	v, ok := opts.Options[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("option %s=%q: want a positive integer", name, v)
	}
	return n, nil
}

// selectDocs applies TaskOptions.Docs and Limit to n documents.
func selectDocs(n int, opts plugins.TaskOptions) []int {
	var out []int
	for d := range n {
		keep := len(opts.Docs) == 0
		for _, r := range opts.Docs {
			keep = keep || (d >= r.First && d <= r.Last)
		}
		if keep {
			out = append(out, d)
		}
	}
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out
}

func (MC) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	docs, err := intOption(opts, "docs", 12)
	if err != nil {
		return nil, err
	}
	choices, err := intOption(opts, "choices", 3)
	if err != nil {
		return nil, err
	}
	var out []plugins.Request
	for _, d := range selectDocs(docs, opts) {
		for c := range choices {
			out = append(out, plugins.Request{DocIndex: d, Index: c, Loglikelihood: &plugins.LoglikelihoodRequest{
				Context: fmt.Sprintf("Question %d:", d), Continuation: fmt.Sprintf(" answer %d", c)}})
		}
	}
	return out, nil
}

func (MC) Score(_ context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	if len(reqs) != len(resps) {
		return plugins.Scores{}, fmt.Errorf("%d responses for %d requests", len(resps), len(reqs))
	}
	choices, err := intOption(opts, "choices", 3)
	if err != nil {
		return plugins.Scores{}, err
	}
	var s plugins.Scores
	var accs []float64
	for i := 0; i < len(reqs); i += choices {
		doc := reqs[i].DocIndex
		lls := make([]float64, choices)
		best := 0
		for c := range choices {
			if resps[i+c].Loglikelihood == nil {
				return plugins.Scores{}, fmt.Errorf("request %d has no loglikelihood answer", i+c)
			}
			lls[c] = resps[i+c].Loglikelihood.LogLikelihood
			if lls[c] > lls[best] {
				best = c
			}
		}
		gold := doc % choices
		acc := 0.0
		if best == gold {
			acc = 1
		}
		accs = append(accs, acc)
		s.Docs = append(s.Docs, plugins.DocScore{DocIndex: doc, Gold: gold, Prediction: best, ChoiceLogLikelihoods: lls, Metrics: map[string]float64{"acc": acc}})
	}
	mean, se := meanStderr(accs)
	s.Metrics = []plugins.MetricValue{{Name: "acc", Value: mean, Stderr: se, N: len(accs), HigherIsBetter: true}}
	return s, nil
}

// Gen is a fake memorization task ("fakegen"): doc d is the prefix
// [d, d+1, …, d+7] whose memorized suffix is the next 4 ids.
type Gen struct{}

func (Gen) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name: "fakegen", Version: "1", OutputType: plugins.OutputGenerateTokens, Category: plugins.CategoryMemorization,
		Metrics: []plugins.MetricInfo{{Name: "exact_match", HigherIsBetter: true, PerDoc: true}},
		Options: []plugins.OptionInfo{{Name: "docs", Default: "10", Help: "number of sequences"}},
	}, nil
}

func (Gen) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	docs, err := intOption(opts, "docs", 10)
	if err != nil {
		return nil, err
	}
	var out []plugins.Request
	for _, d := range selectDocs(docs, opts) {
		prefix := make([]int32, 8)
		for j := range prefix {
			prefix[j] = int32(d + j)
		}
		out = append(out, plugins.Request{DocIndex: d, Generate: &plugins.GenerateRequest{Prefix: prefix, NewTokens: 4}})
	}
	return out, nil
}

func (Gen) Score(_ context.Context, _ plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	if len(reqs) != len(resps) {
		return plugins.Scores{}, fmt.Errorf("%d responses for %d requests", len(resps), len(reqs))
	}
	var s plugins.Scores
	var ems []float64
	for i, r := range reqs {
		g := resps[i].Generate
		if g == nil {
			return plugins.Scores{}, fmt.Errorf("request %d has no generate answer", i)
		}
		em := 1.0
		for j, id := range g.IDs {
			if id != int32(r.DocIndex+8+j) {
				em = 0
			}
		}
		ems = append(ems, em)
		s.Docs = append(s.Docs, plugins.DocScore{DocIndex: r.DocIndex, Gold: -1, Prediction: -1, Metrics: map[string]float64{"exact_match": em}})
	}
	mean, se := meanStderr(ems)
	s.Metrics = []plugins.MetricValue{{Name: "exact_match", Value: mean, Stderr: se, N: len(ems), HigherIsBetter: true}}
	return s, nil
}

func meanStderr(xs []float64) (float64, float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / n
	if n <= 1 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}
