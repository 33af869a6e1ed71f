// Package lm turns a compute engine and a tokenizer into a memscope
// backend (plugins.Backend) with lm-evaluation-harness semantics:
// _encode_pair tokenization, left truncation to the model's window,
// rolling windows for long texts, batches sorted by length, and greedy
// generation. Every compute backend (cpu, cuda) serves one of these.
package lm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// DefaultBatchSize is the number of sequences per forward pass when the
// load request names none.
const DefaultBatchSize = 16

// EngineLoader opens a model folder with a compute engine.
type EngineLoader func(ctx context.Context, req plugins.LoadRequest) (engine.Engine, error)

// TokenizerLoader opens the tokenizer stored in a model folder.
type TokenizerLoader func(modelDir string) (Tokenizer, error)

// Config describes a backend built on this package.
type Config struct {
	Name    string // "cpu"
	Version string
	// Architectures are the HF classes the engine runs (arch.Architectures()
	// for an engine that runs every registered architecture).
	Architectures []string
	DTypes        []string
	Compute       string // what does the math here (plugins.Capabilities.Compute)
	// Unavailable (may be nil) says why the backend cannot run on this
	// machine, "" when it can; Load then fails with that reason.
	Unavailable func() string
	// InterventionKinds are the kinds the engine applies
	// (intervention.AttentionKinds for one that implements every attention
	// mode); requests with others are refused before they reach it.
	InterventionKinds []intervention.Kind
	LoadEngine        EngineLoader
	LoadTokenizer     TokenizerLoader
	// InspectModel (may be nil: no Inspect) reads a model folder's
	// configuration without its weights, checking what is cheap to check
	// (the weights' headers against the configuration).
	InspectModel func(ctx context.Context, req plugins.LoadRequest) (modelconfig.Config, error)
}

// Backend implements plugins.Backend for one loaded model at a time.
type Backend struct {
	cfg Config

	mu        sync.Mutex // one call at a time: the engine uses every core
	eng       engine.Engine
	model     modelconfig.Config // eng.Config()
	tok       Tokenizer
	tokErr    error // why there is no tokenizer, if there is none
	info      plugins.ModelInfo
	batchSize int
	eos       int32 // config.json's eos_token_id: what SuppressEOS keeps out
}

var (
	_ plugins.Backend   = (*Backend)(nil)
	_ plugins.Inspector = (*Backend)(nil)
)

// New returns a backend with no model loaded.
func New(cfg Config) *Backend { return &Backend{cfg: cfg} }

// eotTokenizer is implemented by tokenizers that know their end-of-text id.
type eotTokenizer interface {
	EOTTokenID() (int32, bool)
}

// Capabilities implements plugins.Backend.
func (b *Backend) Capabilities(context.Context) (plugins.Capabilities, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	caps := plugins.Capabilities{
		Name:              b.cfg.Name,
		Version:           b.cfg.Version,
		Architectures:     b.cfg.Architectures,
		DTypes:            b.cfg.DTypes,
		InterventionKinds: b.cfg.InterventionKinds,
		Compute:           b.cfg.Compute,
	}
	if b.cfg.Unavailable != nil {
		caps.Unavailable = b.cfg.Unavailable()
	}
	if b.eng != nil {
		info := b.info
		caps.Model = &info
	}
	return caps, nil
}

// Load implements plugins.Backend. The tokenizer is optional: token-id
// requests work without one; text requests then fail with a clear error.
func (b *Backend) Load(ctx context.Context, req plugins.LoadRequest) (plugins.ModelInfo, error) {
	if req.DType != "" && !slices.Contains(b.cfg.DTypes, req.DType) {
		return plugins.ModelInfo{}, fmt.Errorf("backend %s computes in %v, not %q", b.cfg.Name, b.cfg.DTypes, req.DType)
	}
	if b.cfg.Unavailable != nil {
		if why := b.cfg.Unavailable(); why != "" {
			return plugins.ModelInfo{}, fmt.Errorf("backend %s cannot run on this machine: %s", b.cfg.Name, why)
		}
	}
	eng, err := b.cfg.LoadEngine(ctx, req)
	if err != nil {
		return plugins.ModelInfo{}, err
	}
	tok, tokErr := b.cfg.LoadTokenizer(req.ModelDir)
	cfg := eng.Config()
	b.eos = int32(cfg.EOSTokenID)
	params, err := arch.Parameters(cfg)
	if err != nil {
		eng.Close()
		return plugins.ModelInfo{}, err
	}
	dtype := req.DType
	if d, ok := eng.(interface{ DType() string }); ok {
		dtype = d.DType() // an engine that chooses its default (the checkpoint's own) says which
	}
	info := b.modelInfo(cfg, dtype, tok, tokErr)
	info.Parameters = params
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eng != nil {
		b.eng.Close()
	}
	b.eng, b.info, b.model = eng, info, cfg
	b.tok, b.tokErr = tok, tokErr
	if tokErr != nil {
		b.tok = nil
	}
	b.batchSize = req.BatchSize
	if b.batchSize <= 0 {
		b.batchSize = DefaultBatchSize
	}
	return info, nil
}

// modelInfo describes a model from its configuration and tokenizer.
func (b *Backend) modelInfo(cfg modelconfig.Config, dtype string, tok Tokenizer, tokErr error) plugins.ModelInfo {
	eot := int32(cfg.EOSTokenID)
	if et, ok := tok.(eotTokenizer); ok && tokErr == nil {
		if id, ok := et.EOTTokenID(); ok {
			eot = id
		}
	}
	if dtype == "" {
		dtype = b.cfg.DTypes[0]
	}
	info := plugins.ModelInfo{
		Architecture: cfg.Architecture,
		ModelType:    cfg.ModelType,
		NumLayers:    cfg.NumLayers,
		HiddenSize:   cfg.HiddenSize,
		VocabSize:    cfg.VocabSize,
		MaxPositions: cfg.MaxPositions,
		EOTTokenID:   eot,
		DType:        dtype,
	}
	if tokErr != nil {
		info.TokenizerError = tokErr.Error()
	}
	return info
}

// Inspect implements plugins.Inspector: the model as Load would describe
// it (Parameters aside), from its configuration and tokenizer, without
// its weights.
func (b *Backend) Inspect(ctx context.Context, req plugins.LoadRequest) (plugins.ModelInfo, error) {
	if b.cfg.InspectModel == nil {
		return plugins.ModelInfo{}, plugins.ErrNotSupported
	}
	if req.DType != "" && !slices.Contains(b.cfg.DTypes, req.DType) {
		return plugins.ModelInfo{}, plugins.InvalidInput(fmt.Errorf("backend %s computes in %v, not %q", b.cfg.Name, b.cfg.DTypes, req.DType))
	}
	cfg, err := b.cfg.InspectModel(ctx, req)
	if err != nil {
		return plugins.ModelInfo{}, plugins.InvalidInput(err)
	}
	if len(b.cfg.Architectures) > 0 && !slices.Contains(b.cfg.Architectures, cfg.Architecture) {
		return plugins.ModelInfo{}, plugins.InvalidInput(fmt.Errorf("%s is a %s; backend %s runs %s", req.ModelDir, cfg.Architecture, b.cfg.Name, strings.Join(b.cfg.Architectures, ", ")))
	}
	tok, tokErr := b.cfg.LoadTokenizer(req.ModelDir)
	return b.modelInfo(cfg, req.DType, tok, tokErr), nil
}

// Close releases the loaded model.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eng == nil {
		return nil
	}
	err := b.eng.Close()
	b.eng = nil
	return err
}

// ready checks that a model is loaded and the intervention fits it.
func (b *Backend) ready(iv intervention.Intervention) error {
	if b.eng == nil {
		return errors.New("no model loaded: call Load first")
	}
	return engine.CheckIntervention(b.model, iv, b.cfg.InterventionKinds)
}

func (b *Backend) tokenizer() (Tokenizer, error) {
	if b.tok == nil {
		return nil, plugins.InvalidInput(fmt.Errorf("this model has no usable tokenizer (%v); text requests need tokenizer.json or vocab.json + merges.txt in the model folder", b.tokErr))
	}
	return b.tok, nil
}

// Loglikelihood implements plugins.Backend.
func (b *Backend) Loglikelihood(ctx context.Context, iv intervention.Intervention, reqs []plugins.LoglikelihoodRequest, progress plugins.Progress) ([]plugins.LoglikelihoodResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ready(iv); err != nil {
		return nil, err
	}
	tok, err := b.tokenizer()
	if err != nil {
		return nil, err
	}
	maxLen := b.info.MaxPositions
	seqs := make([]engine.Sequence, len(reqs))
	out := make([]plugins.LoglikelihoodResult, len(reqs))
	for i, r := range reqs {
		p := encodePair(tok, b.info.EOTTokenID, r.Context, r.Continuation)
		if len(p.continuation) > maxLen {
			return nil, plugins.InvalidInput(fmt.Errorf("request %d: continuation of %d tokens does not fit the model's %d-token window", i, len(p.continuation), maxLen))
		}
		seqs[i] = pairSequence(p, maxLen)
		out[i].ContextTokens = len(p.context)
		out[i].ContinuationTokens = len(p.continuation)
	}
	scores, err := b.scoreAll(ctx, iv, seqs, progress)
	if err != nil {
		return nil, err
	}
	for i, s := range scores {
		out[i].LogLikelihood = sum64(s.LogProbs)
		out[i].IsGreedy = !slices.Contains(s.Greedy, false)
		out[i].NonFinite = nonFiniteText(s.NonFinite)
	}
	return out, nil
}

// LoglikelihoodRolling implements plugins.Backend.
func (b *Backend) LoglikelihoodRolling(ctx context.Context, iv intervention.Intervention, reqs []plugins.RollingRequest, progress plugins.Progress) ([]plugins.RollingResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ready(iv); err != nil {
		return nil, err
	}
	var seqs []engine.Sequence
	var owners []int
	for i, r := range reqs {
		ids, from, err := b.rollingIDs(i, r)
		if err != nil {
			return nil, err
		}
		for _, w := range rollingWindows(ids, from, b.info.MaxPositions) {
			seqs = append(seqs, w)
			owners = append(owners, i)
		}
	}
	scores, err := b.scoreAll(ctx, iv, seqs, progress)
	if err != nil {
		return nil, err
	}
	out := make([]plugins.RollingResult, len(reqs))
	for k, s := range scores {
		r := &out[owners[k]]
		r.LogProbs = append(r.LogProbs, s.LogProbs...)
		r.Entropies = append(r.Entropies, s.Entropies...)
		r.Greedy = append(r.Greedy, s.Greedy...)
		if r.NonFinite == "" {
			r.NonFinite = nonFiniteText(s.NonFinite)
		}
	}
	for i := range out {
		out[i].LogLikelihood = sum64(out[i].LogProbs)
	}
	return out, nil
}

// rollingIDs returns the token sequence of a rolling request and the index
// of its first scored token.
func (b *Backend) rollingIDs(i int, r plugins.RollingRequest) ([]int32, int, error) {
	ids := r.IDs
	if len(ids) == 0 && r.Text != "" {
		tok, err := b.tokenizer()
		if err != nil {
			return nil, 0, err
		}
		ids = tok.Encode(r.Text)
	} else if r.Text != "" {
		return nil, 0, plugins.InvalidInput(fmt.Errorf("rolling request %d: give text or ids, not both", i))
	}
	if err := engine.CheckTokenIDs(b.model, fmt.Sprintf("rolling request %d", i), ids); err != nil {
		return nil, 0, plugins.InvalidInput(err)
	}
	if r.ContextLen < 0 || r.ContextLen > len(ids) {
		return nil, 0, plugins.InvalidInput(fmt.Errorf("rolling request %d: context length %d outside the %d tokens", i, r.ContextLen, len(ids)))
	}
	if r.ContextLen == 0 {
		return append([]int32{b.info.EOTTokenID}, ids...), 1, nil
	}
	return ids, r.ContextLen, nil
}

// GenerateTokens implements plugins.Backend.
func (b *Backend) GenerateTokens(ctx context.Context, iv intervention.Intervention, reqs []plugins.GenerateRequest, progress plugins.Progress) ([]plugins.GenerateResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ready(iv); err != nil {
		return nil, err
	}
	for i, r := range reqs {
		if err := engine.CheckPrefix(b.model, fmt.Sprintf("generate request %d", i), r.Prefix, r.NewTokens); err != nil {
			return nil, plugins.InvalidInput(err)
		}
	}
	// Batch requests with equal prefix length and count together, in
	// input order within a group.
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	suppressing, canSuppress := b.eng.(engine.OptionsGenerator)
	for i, r := range reqs {
		if r.SuppressEOS && !canSuppress {
			return nil, plugins.InvalidInput(fmt.Errorf("generate request %d asks to suppress end-of-text, which this backend's engine cannot do", i))
		}
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Or(cmp.Compare(len(reqs[y].Prefix), len(reqs[x].Prefix)), cmp.Compare(reqs[x].NewTokens, reqs[y].NewTokens),
			cmp.Compare(boolInt(reqs[x].SuppressEOS), boolInt(reqs[y].SuppressEOS)))
	})
	out := make([]plugins.GenerateResult, len(reqs))
	done := 0
	for start := 0; start < len(order); {
		first := reqs[order[start]]
		end := start + 1
		for end < len(order) && end-start < b.batchSize &&
			len(reqs[order[end]].Prefix) == len(first.Prefix) && reqs[order[end]].NewTokens == first.NewTokens &&
			reqs[order[end]].SuppressEOS == first.SuppressEOS {
			end++
		}
		prefixes := make([][]int32, end-start)
		for k := range prefixes {
			prefixes[k] = reqs[order[start+k]].Prefix
		}
		var gens []engine.Generation
		var err error
		if first.SuppressEOS {
			gens, err = suppressing.GenerateWith(ctx, prefixes, first.NewTokens, iv, engine.GenerateOptions{Suppress: b.eos})
		} else {
			gens, err = b.eng.Generate(ctx, prefixes, first.NewTokens, iv)
		}
		if err != nil {
			return nil, err
		}
		for k, g := range gens {
			out[order[start+k]] = plugins.GenerateResult{IDs: g.IDs, Entropies: g.Entropies, NonFinite: nonFiniteText(g.NonFinite)}
		}
		done += end - start
		if progress != nil {
			progress(done, len(reqs))
		}
		start = end
	}
	return out, nil
}

// Logits implements plugins.Backend: the engine's raw logits, batchSize
// sequences per engine call; progress counts sequences.
func (b *Backend) Logits(ctx context.Context, iv intervention.Intervention, ids [][]int32, progress plugins.Progress) ([]float32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ready(iv); err != nil {
		return nil, err
	}
	// All sequences are checked before any is computed, numbered as given.
	T, err := engine.CheckBatch(b.model, ids)
	if err != nil {
		return nil, plugins.InvalidInput(err)
	}
	out := make([]float32, 0, len(ids)*T*b.model.VocabSize)
	for start := 0; start < len(ids); start += b.batchSize {
		end := min(len(ids), start+b.batchSize)
		l, err := b.eng.Logits(ctx, ids[start:end], iv)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
		if progress != nil {
			progress(end, len(ids))
		}
	}
	return out, nil
}

// scoreAll scores sequences in batches of batchSize sequences of similar
// length, longest first (as lm-eval does: the first batch shows whether
// memory suffices, and the ETA is pessimistic); the engine splits a batch
// into forward passes within its own token budget (engine.Limits).
// progress counts sequences, not requests: a long text is one rolling
// request of many windows (a book: minutes of them), and its progress
// should move.
func (b *Backend) scoreAll(ctx context.Context, iv intervention.Intervention, seqs []engine.Sequence, progress plugins.Progress) ([]engine.TokenScores, error) {
	done := 0
	order := make([]int, len(seqs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(len(seqs[y].Tokens), len(seqs[x].Tokens)) })
	out := make([]engine.TokenScores, len(seqs))
	for start := 0; start < len(order); {
		end := min(len(order), start+b.batchSize)
		batch := make([]engine.Sequence, end-start)
		for k := range batch {
			batch[k] = seqs[order[start+k]]
		}
		scores, err := b.eng.Score(ctx, batch, iv)
		if err != nil {
			return nil, err
		}
		for k, s := range scores {
			out[order[start+k]] = s
		}
		done += len(scores)
		if progress != nil {
			progress(done, len(seqs))
		}
		start = end
	}
	return out, nil
}

func sum64(xs []float32) float64 {
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return s
}

// nonFiniteText is the response's NonFinite field ("" when nil).
func nonFiniteText(n *engine.NonFinite) string {
	if n == nil {
		return ""
	}
	return n.String()
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}
