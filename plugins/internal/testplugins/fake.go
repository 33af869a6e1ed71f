package testplugins

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// Special request contexts (LoglikelihoodRequest.Context) that make the
// fake backend misbehave on purpose.
const (
	Exit   = "__exit__"   // log an error, then os.Exit(3) mid-call
	Panic  = "__panic__"  // panic mid-call
	Block  = "__block__"  // block until the call's context ends, then log "context cancelled"
	Stdout = "__stdout__" // write a line to stdout (forbidden for plugins)
	Slow   = "__slow__"   // sleep 2 ms per request, reporting progress after each
	Fail   = "__fail__"   // return an error whose text is the continuation
	Input  = "__input__"  // return an input error (plugins.InvalidInput) whose text is the continuation
	Segv   = "__segv__"   // fault in C code (SIGSEGV) mid-call
)

// Messages the fakes log, for tests that look for them in the host's log.
const (
	LogLoading   = "fake backend loading model"
	LogCancelled = "context cancelled"
	LogExiting   = "exiting on purpose"
	LogLate      = "logger made after Serve"
)

// rng is splitmix64: fast, stateless per seed, good enough to make bit
// patterns (including NaN payloads and negative ids).
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float64() float64 { return math.Float64frombits(r.next()) }
func (r *rng) float32() float32 { return math.Float32frombits(uint32(r.next())) }
func (r *rng) int32() int32     { return int32(uint32(r.next())) }

// Backend is the fake backend. Its zero value works (without logging).
type Backend struct {
	Log hclog.Logger

	mu    sync.Mutex
	model *plugins.ModelInfo
}

func (b *Backend) log() hclog.Logger {
	if b.Log == nil {
		return hclog.NewNullLogger()
	}
	return b.Log
}

func (b *Backend) Capabilities(context.Context) (plugins.Capabilities, error) {
	version := os.Getenv("FAKE_BACKEND_VERSION")
	if version == "" {
		version = "1.0"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var model *plugins.ModelInfo
	if b.model != nil {
		m := *b.model
		model = &m
	}
	return plugins.Capabilities{
		Name:              "fake",
		Version:           version,
		Architectures:     []string{"GPTNeoXForCausalLM", "GPTNeoForCausalLM"},
		DTypes:            []string{}, // empty, not nil: must stay so
		InterventionKinds: append([]intervention.Kind(nil), intervention.Kinds...),
		Model:             model,
		Compute:           "fake BLAS, naive kernels (chosen by the test)",
	}, nil
}

func (b *Backend) Load(_ context.Context, req plugins.LoadRequest) (plugins.ModelInfo, error) {
	b.log().Info(LogLoading, "dir", req.ModelDir)
	// A logger made inside a call, after go-plugin swapped os.Stderr for
	// its stdio pipe, must still reach the host as a parsed log line.
	plugins.PluginLogger("late").Warn(LogLate)
	if strings.HasPrefix(req.ModelDir, "__missing__") {
		return plugins.ModelInfo{}, fmt.Errorf("load %s: no config.json there", req.ModelDir)
	}
	m := LoadedModel(req)
	b.mu.Lock()
	b.model = &m
	b.mu.Unlock()
	return m, nil
}

// Inspect describes the model as Load does, without loading it; a folder
// named "__uninspectable__…" is one the fake cannot inspect
// (plugins.ErrNotSupported), "__missing__…" an input error.
func (b *Backend) Inspect(_ context.Context, req plugins.LoadRequest) (plugins.ModelInfo, error) {
	switch {
	case strings.HasPrefix(req.ModelDir, "__uninspectable__"):
		return plugins.ModelInfo{}, plugins.ErrNotSupported
	case strings.HasPrefix(req.ModelDir, "__missing__"):
		return plugins.ModelInfo{}, plugins.InvalidInput(fmt.Errorf("inspect %s: no config.json there", req.ModelDir))
	}
	return LoadedModel(req), nil
}

// LoadedModel is what the fake's Load returns for req.
func LoadedModel(req plugins.LoadRequest) plugins.ModelInfo {
	r := rng(Fingerprint(req))
	dtype := req.DType
	if dtype == "" {
		dtype = "float32"
	}
	return plugins.ModelInfo{
		Architecture: "GPTNeoXForCausalLM",
		ModelType:    "gpt_neox",
		NumLayers:    int(r.next()%48) + 1,
		HiddenSize:   int(r.next()),
		VocabSize:    -int(r.next() >> 1),
		MaxPositions: req.Threads*1000 + req.BatchSize,
		EOTTokenID:   r.int32(),
		DType:        dtype,
		Parameters:   int64(r.next()),
	}
}

// misbehave acts on the special contexts; it reports whether the call
// should sleep per request (Slow).
func (b *Backend) misbehave(ctx context.Context, reqs []plugins.LoglikelihoodRequest) (slow bool, err error) {
	for _, r := range reqs {
		switch r.Context {
		case Exit:
			b.log().Error(LogExiting, "code", 3)
			os.Exit(3)
		case Panic:
			panic("fake backend panic")
		case Segv:
			segv()
		case Block:
			b.log().Info("blocking until cancelled")
			<-ctx.Done()
			b.log().Info(LogCancelled, "err", ctx.Err().Error())
			return false, ctx.Err()
		case Stdout:
			fmt.Println("stray line on stdout")
		case Slow:
			slow = true
		case Fail:
			return false, fmt.Errorf("%s", r.Continuation)
		case Input:
			return false, plugins.InvalidInput(fmt.Errorf("%s", r.Continuation))
		}
	}
	return slow, nil
}

func (b *Backend) Loglikelihood(ctx context.Context, iv intervention.Intervention, reqs []plugins.LoglikelihoodRequest, progress plugins.Progress) ([]plugins.LoglikelihoodResult, error) {
	slow, err := b.misbehave(ctx, reqs)
	if err != nil {
		return nil, err
	}
	if reqs == nil {
		return nil, nil
	}
	out := make([]plugins.LoglikelihoodResult, len(reqs))
	for i, req := range reqs {
		if slow {
			time.Sleep(2 * time.Millisecond)
		}
		r := rng(Fingerprint(iv, i, req))
		out[i] = plugins.LoglikelihoodResult{
			LogLikelihood:      r.float64(),
			IsGreedy:           r.next()&1 == 1,
			ContextTokens:      int(r.next() % 4096),
			ContinuationTokens: int(r.next()%64) - 1,
		}
		if progress != nil {
			progress(i+1, len(reqs))
		}
	}
	return out, nil
}

func (b *Backend) LoglikelihoodRolling(_ context.Context, iv intervention.Intervention, reqs []plugins.RollingRequest, progress plugins.Progress) ([]plugins.RollingResult, error) {
	if reqs == nil {
		return nil, nil
	}
	out := make([]plugins.RollingResult, len(reqs))
	for i, req := range reqs {
		out[i] = RollingResult(iv, i, req)
		if progress != nil {
			progress(i+1, len(reqs))
		}
	}
	return out, nil
}

// RollingResult is the fake's answer to request i: one entry per id (or
// per byte of text); nil slices when the request has neither ids nor text.
func RollingResult(iv intervention.Intervention, i int, req plugins.RollingRequest) plugins.RollingResult {
	r := rng(Fingerprint(iv, i, req.Text, req.ContextLen, req.IDs == nil, len(req.IDs)))
	// Mix in the ids cheaply (they may be millions).
	for _, id := range req.IDs {
		r ^= rng(uint32(id))
		r.next()
	}
	res := plugins.RollingResult{LogLikelihood: r.float64()}
	n := len(req.IDs)
	if req.IDs == nil {
		n = len(req.Text)
		if req.Text == "" {
			return res
		}
	}
	res.LogProbs = make([]float32, n)
	res.Entropies = make([]float32, n)
	res.Greedy = make([]bool, n)
	for j := range n {
		res.LogProbs[j] = r.float32()
		res.Entropies[j] = r.float32()
		res.Greedy[j] = r.next()&1 == 1
	}
	return res
}

func (b *Backend) GenerateTokens(_ context.Context, iv intervention.Intervention, reqs []plugins.GenerateRequest, progress plugins.Progress) ([]plugins.GenerateResult, error) {
	if reqs == nil {
		return nil, nil
	}
	out := make([]plugins.GenerateResult, len(reqs))
	for i, req := range reqs {
		r := rng(Fingerprint(iv, i, req))
		var res plugins.GenerateResult
		if req.NewTokens > 0 || req.Prefix != nil {
			res.IDs = make([]int32, req.NewTokens)
			res.Entropies = make([]float32, req.NewTokens)
			for j := range req.NewTokens {
				res.IDs[j] = r.int32()
				res.Entropies[j] = r.float32()
			}
		}
		out[i] = res
		if progress != nil {
			progress(i+1, len(reqs))
		}
	}
	return out, nil
}

// Task is the fake task. Options it understands: "nil" / "empty" (return
// a nil / empty request list), "big" (add one rolling request of that many
// ids), "exit" (os.Exit in Score), "bigscores" (one doc score with that
// many choice log-likelihoods).
type Task struct {
	Log hclog.Logger
}

func (t *Task) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name:       "fake",
		Version:    "3",
		OutputType: plugins.OutputMultipleChoice,
		Category:   plugins.CategoryReasoning,
		Metrics: []plugins.MetricInfo{
			{Name: "acc", HigherIsBetter: true, PerDoc: true},
			{Name: "perplexity"},
		},
		DataFiles:   []string{},
		Options:     []plugins.OptionInfo{{Name: "big", Default: "0", Help: "add a rolling request with this many ids"}},
		Description: "fake task for the plugins tests — ünïcödé",
	}, nil
}

func (t *Task) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	switch {
	case opts.Options["nil"] != "":
		return nil, nil
	case opts.Options["empty"] != "":
		return []plugins.Request{}, nil
	}
	docs := opts.Limit
	if docs == 0 {
		docs = 3
	}
	r := rng(uint64(opts.Seed))
	var out []plugins.Request
	for d := range docs {
		ctx := fmt.Sprintf("doc %d context ", d)
		if d == 0 {
			ctx += "\xff\xfe not UTF-8 "
		}
		out = append(out, plugins.Request{DocIndex: d, Index: 0, Loglikelihood: &plugins.LoglikelihoodRequest{Context: ctx, Continuation: " answer"}})
		ids := make([]int32, d) // doc 0: empty, not nil
		for i := range ids {
			ids[i] = r.int32()
		}
		out = append(out, plugins.Request{DocIndex: d, Index: 1, Rolling: &plugins.RollingRequest{IDs: ids, ContextLen: d}})
		out = append(out, plugins.Request{DocIndex: d, Index: 2, Generate: &plugins.GenerateRequest{Prefix: ids, NewTokens: 4}})
	}
	var big int
	if _, err := fmt.Sscan(opts.Options["big"], &big); err == nil && big > 0 {
		ids := make([]int32, big)
		for i := range ids {
			ids[i] = r.int32()
		}
		out = append(out, plugins.Request{DocIndex: docs, Rolling: &plugins.RollingRequest{IDs: ids}})
	}
	return out, nil
}

func (t *Task) Score(_ context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	if opts.Options["exit"] != "" {
		os.Exit(4)
	}
	if len(reqs) != len(resps) {
		return plugins.Scores{}, fmt.Errorf("score: %d requests but %d responses", len(reqs), len(resps))
	}
	var s plugins.Scores
	if reqs != nil {
		s.Docs = []plugins.DocScore{}
	}
	for i := range reqs {
		r := rng(Fingerprint(reqs[i], resps[i]))
		d := plugins.DocScore{DocIndex: reqs[i].DocIndex, Gold: -1, Prediction: int(r.next()%4) - 1}
		switch i % 3 {
		case 0:
			d.ChoiceLogLikelihoods = []float64{r.float64(), r.float64()}
			d.Metrics = map[string]float64{"acc": float64(r.next() & 1), "raw": r.float64()}
		case 1:
			d.ChoiceLogLikelihoods = []float64{}
			d.Metrics = map[string]float64{}
		}
		s.Docs = append(s.Docs, d)
	}
	var big int
	if _, err := fmt.Sscan(opts.Options["bigscores"], &big); err == nil && big > 0 {
		r := rng(Fingerprint(opts))
		d := plugins.DocScore{DocIndex: -1, ChoiceLogLikelihoods: make([]float64, big)}
		for i := range d.ChoiceLogLikelihoods {
			d.ChoiceLogLikelihoods[i] = r.float64()
		}
		s.Docs = append(s.Docs, d)
	}
	s.Metrics = []plugins.MetricValue{
		{Name: "digest", Value: math.Float64frombits(Fingerprint(opts, reqs, resps)), Stderr: math.NaN(), N: len(reqs), HigherIsBetter: true},
		{Name: "neg", Value: math.Copysign(0, -1), Stderr: math.Inf(-1), N: -1},
	}
	return s, nil
}

// FakeVocab is the vocabulary of the fake backend's logits.
const FakeVocab = 1000

// Logits answers FakeVocab arbitrary bit patterns (NaN payloads included)
// per token, a function of the intervention and the ids.
func (b *Backend) Logits(_ context.Context, iv intervention.Intervention, ids [][]int32, progress plugins.Progress) ([]float32, error) {
	var out []float32
	for i, s := range ids {
		if len(s) != len(ids[0]) {
			return nil, fmt.Errorf("sequence %d has %d tokens but sequence 0 has %d", i, len(s), len(ids[0]))
		}
		r := rng(Fingerprint(iv, i, s))
		for range len(s) * FakeVocab {
			out = append(out, r.float32())
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	return out, nil
}
