// Package runner drives a memscope run: it starts the task plugins once
// and builds their requests once, then for each model starts its backend
// once, loads the model, expands the interventions for its layer count
// and evaluates every (intervention, task) cell — answering requests from
// the response cache where it can, sending the rest to the backend in
// chunks that are committed to the cache as they finish, scoring through
// the task plugin — and streams finished cells to the results writer.
//
// Finished cells are also saved in OUT/.memscope-state, so a run that is
// interrupted (Ctrl-C, a crashed plugin) resumes where it stopped when the
// same command is run again, and writes the same tables as an
// uninterrupted run.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/memscope/memscope/harness/cache"
	"github.com/memscope/memscope/harness/modelhash"
	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/harness/progress"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// DefaultChunkSize is how many requests go to the backend per call: the
// most work an interruption can lose, and few enough calls that the
// per-call cost does not show.
const DefaultChunkSize = 256

// TaskConfig is one task of the run and its --task-opt settings.
type TaskConfig struct {
	Name    string
	Options map[string]string
}

// Config is what to run.
type Config struct {
	Models        []plan.Model
	Backend       string
	Tasks         []TaskConfig
	Interventions []intervention.Spec // the baseline is always added
	Limit         int
	Docs          []plugins.DocRange
	Seed          int64
	BatchSize     int
	DType         string
	Threads       int
	OutDir        string
	// Info is the run's provenance; TaskConfigHashes is filled in here.
	Info results.RunInfo
	// ChunkSize is the number of requests per backend call (0: DefaultChunkSize).
	ChunkSize int
}

// Proc is a plugin process (*plugins.Process).
type Proc interface {
	Name() string
	Kill()
	Exited() bool
}

// Deps are the runner's means: how to start plugins, the cache, progress.
type Deps struct {
	StartBackend func(name string) (plugins.Backend, Proc, error)
	StartTask    func(name string) (plugins.Task, Proc, error)
	Cache        *cache.Store      // nil: no response cache
	Hasher       *modelhash.Hasher // nil: no memo file
	Display      *progress.Display // nil: silent
	Log          hclog.Logger      // nil: discard
	// AfterCell is called after each cell is finished (computed or
	// resumed); tests use it to kill plugins mid-run.
	AfterCell func(CellEvent)
}

// CellEvent describes a finished cell to Deps.AfterCell.
type CellEvent struct {
	Cell    plan.Cell
	Resumed bool
	Backend Proc
}

// Summary is what a run did.
type Summary struct {
	Info     results.RunInfo // as stored in the tables
	Cells    int             // cells in the tables
	Computed int
	Resumed  int
	// Cached counts the computed cells whose every answer came from the
	// response cache (the backend computed nothing for them).
	Cached int
	Models []ModelSummary
}

// ModelSummary describes one model of the run.
type ModelSummary struct {
	plan.Model
	Hash          string
	Info          plugins.ModelInfo
	Interventions []intervention.Intervention
}

// CellError is a run stopped in a cell. It names the cell and the plugin
// involved; finished cells are kept for a re-run.
type CellError struct {
	Cell     plan.Cell // zero Intervention/Task when the model failed to load
	Plugin   string    // "backend cpu", "task piqa"; "" when no plugin was involved
	Finished int       // cells finished and kept before the failure
	Total    int       // cells planned so far
	Err      error
	// Interrupted is the run's context error when the run was cancelled
	// (Ctrl-C): whatever the call reported, that is why it stopped.
	Interrupted error
}

func (e *CellError) Error() string {
	where := "model " + e.Cell.Model
	if e.Cell.Task != "" {
		where = e.Cell.String()
	}
	var b strings.Builder
	switch {
	case e.Interrupted != nil || errors.Is(e.Err, context.Canceled):
		fmt.Fprintf(&b, "interrupted while running %s", where)
	case errors.Is(e.Err, plugins.ErrPluginExited):
		fmt.Fprintf(&b, "%s crashed while running %s: %v", e.pluginName(), where, e.Err)
	default:
		fmt.Fprintf(&b, "%s: %v", where, e.Err)
	}
	return b.String()
}

func (e *CellError) pluginName() string {
	if e.Plugin == "" {
		return "a plugin"
	}
	return "plugin " + e.Plugin
}

func (e *CellError) Unwrap() []error {
	if e.Interrupted != nil {
		return []error{e.Err, e.Interrupted}
	}
	return []error{e.Err}
}

// InputError is a run refused because of what the user asked for (an
// unknown task option, a dtype or intervention the backend cannot do, a
// block the model does not have), found once the plugins described
// themselves.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// preparedTask is a started task plugin with its requests built.
type preparedTask struct {
	cfg      TaskConfig
	info     plugins.TaskInfo
	task     plugins.Task
	proc     Proc
	opts     plugins.TaskOptions
	reqs     []plugins.Request
	digest   string // hash of the requests
	confHash string // hash of name, version and options
}

type run struct {
	cfg     Config
	deps    Deps
	log     hclog.Logger
	resume  *resumeStore
	writer  *results.Writer
	tasks   []*preparedTask
	summary Summary
	planned int
}

// Run executes the plan and writes the tables into cfg.OutDir. On error
// nothing new is written to the tables, every finished cell is kept for a
// re-run, and every plugin is killed.
func Run(ctx context.Context, cfg Config, deps Deps) (*Summary, error) {
	if len(cfg.Models) == 0 || len(cfg.Tasks) == 0 {
		return nil, errors.New("nothing to run: no models or no tasks")
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if deps.Hasher == nil {
		deps.Hasher = modelhash.New("")
	}
	r := &run{cfg: cfg, deps: deps, log: deps.Log}
	if r.log == nil {
		r.log = hclog.NewNullLogger()
	}
	var err error
	if r.resume, err = openResume(cfg.OutDir); err != nil {
		return nil, err
	}
	defer r.resume.release()
	done := false
	defer func() {
		if !done {
			r.resume.removeIfEmpty()
		}
	}()
	defer r.killTasks()
	if err := r.prepareTasks(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted while preparing the tasks: %w", ctx.Err())
		}
		return nil, err
	}

	info := cfg.Info
	info.TaskConfigHashes = map[string]string{}
	for _, t := range r.tasks {
		info.TaskConfigHashes[t.info.Name] = t.confHash
	}
	if r.writer, err = results.Create(cfg.OutDir, info); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.writer.Abort()
		}
	}()

	for i, m := range cfg.Models {
		if err := r.runModel(ctx, m, i == len(cfg.Models)-1); err != nil {
			var ce *CellError
			if errors.As(err, &ce) {
				ce.Finished, ce.Total = r.summary.Computed+r.summary.Resumed, r.planned
				ce.Interrupted = ctx.Err()
			}
			return nil, err
		}
	}
	if d := deps.Display; d != nil {
		d.NoMoreCells()
	}
	r.summary.Info = r.writer.Info()
	if err := r.writer.Close(); err != nil {
		return nil, fmt.Errorf("write results: %w", err)
	}
	ok, done = true, true
	r.summary.Cells = r.summary.Computed + r.summary.Resumed
	return &r.summary, nil
}

func (r *run) killTasks() {
	for _, t := range r.tasks {
		if t.proc != nil {
			t.proc.Kill()
		}
	}
}

// prepareTasks starts each task plugin once, checks its options and builds
// its requests once for the whole run.
func (r *run) prepareTasks(ctx context.Context) error {
	for _, tc := range r.cfg.Tasks {
		t := &preparedTask{cfg: tc}
		r.tasks = append(r.tasks, t)
		task, proc, err := r.deps.StartTask(tc.Name)
		if err != nil {
			return taskError(tc.Name, "start", err)
		}
		t.task, t.proc = task, proc
		if t.info, err = task.Describe(ctx); err != nil {
			return taskError(tc.Name, "describe", err)
		}
		if err := checkOptions(t.info, tc); err != nil {
			return &InputError{err}
		}
		t.opts = plugins.TaskOptions{Limit: r.cfg.Limit, Docs: r.cfg.Docs, Seed: r.cfg.Seed, Options: copyOptions(tc.Options)}
		start := time.Now()
		if t.reqs, err = task.Requests(ctx, t.opts); err != nil {
			err = taskError(tc.Name, "build requests", err)
			if ctx.Err() == nil && !errors.Is(err, plugins.ErrPluginExited) {
				// Requests reads only the options and the data: what
				// fails there is the user's to fix (a missing file, a bad
				// option value, --docs past the end of the data).
				return &InputError{err}
			}
			return err
		}
		if len(t.reqs) == 0 {
			return &InputError{fmt.Errorf("task %s: no requests (are --docs/--limit outside its data?)", tc.Name)}
		}
		if t.digest, err = requestsDigest(t.reqs); err != nil {
			return fmt.Errorf("task %s: %w", tc.Name, err)
		}
		t.confHash = taskConfigHash(t.info, t.opts)
		r.log.Info("task ready", "task", tc.Name, "version", t.info.Version, "requests", len(t.reqs), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// taskError names the task and the step that failed, unless the error
// already names the task: a plugin's errors do ("task piqa: Requests: …",
// "start task piqa (…): …"), and saying it twice only buries the message.
func taskError(name, step string, err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "task "+name+": ") || strings.HasPrefix(msg, "start task "+name+" ") {
		return err
	}
	return fmt.Errorf("task %s: %s: %w", name, step, err)
}

func checkOptions(info plugins.TaskInfo, tc TaskConfig) error {
	known := map[string]bool{}
	var names []string
	for _, o := range info.Options {
		known[o.Name] = true
		names = append(names, o.Name)
	}
	var unknown []string
	for k := range tc.Options {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	have := "it takes no options"
	if len(names) > 0 {
		have = "its options are " + strings.Join(names, ", ")
	}
	return fmt.Errorf("--task-opt: task %s has no option %s (%s; see memscope tasks)", tc.Name, strings.Join(unknown, ", "), have)
}

func copyOptions(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// taskConfigHash identifies a task's configuration: name, version,
// options (defaults filled in), limit, documents and seed.
func taskConfigHash(info plugins.TaskInfo, opts plugins.TaskOptions) string {
	eff := map[string]string{}
	for _, o := range info.Options {
		eff[o.Name] = o.Default
	}
	for k, v := range opts.Options {
		eff[k] = v
	}
	keys := make([]string, 0, len(eff))
	for k := range eff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	fmt.Fprintf(h, "task\x00%s\x00version\x00%s\x00limit\x00%d\x00docs\x00%s\x00seed\x00%d\x00", info.Name, info.Version, opts.Limit, plan.FormatDocRanges(opts.Docs), opts.Seed)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, eff[k])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// requestsDigest hashes a task's requests (with their doc and request
// indices), so a finished cell is reused only for the very same requests.
func requestsDigest(reqs []plugins.Request) (string, error) {
	var zero cache.Scope
	h := sha256.New()
	var b [16]byte
	for i, rq := range reqs {
		k, err := zero.Key(rq)
		if err != nil {
			return "", fmt.Errorf("request %d (doc %d): %w", i, rq.DocIndex, err)
		}
		h.Write(k[:])
		binary.LittleEndian.PutUint64(b[:8], uint64(rq.DocIndex))
		binary.LittleEndian.PutUint64(b[8:], uint64(rq.Index))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// modelRun is one model's backend and what it says about the model.
type modelRun struct {
	model   plan.Model
	hash    string
	backend plugins.Backend
	proc    Proc
	caps    plugins.Capabilities
	info    plugins.ModelInfo
}

// InfoBackendCompute is the provenance key (RunInfo.Extra) of what the
// backend computes with on this machine (plugins.Capabilities.Compute).
const InfoBackendCompute = "backend_compute"

func (r *run) runModel(ctx context.Context, m plan.Model, last bool) error {
	fail := func(err error, plugin string) error {
		return &CellError{Cell: plan.Cell{Model: m.Name}, Plugin: plugin, Err: err}
	}
	start := time.Now()
	hash, err := r.deps.Hasher.Hash(m.Dir)
	if err != nil {
		return fail(err, "")
	}
	r.log.Debug("model hashed", "model", m.Name, "hash", hash, "took", time.Since(start).Round(time.Millisecond))

	mr := &modelRun{model: m, hash: hash}
	backend, proc, err := r.deps.StartBackend(r.cfg.Backend)
	if err != nil {
		return fail(err, "backend "+r.cfg.Backend)
	}
	defer proc.Kill()
	mr.backend, mr.proc = backend, proc
	if mr.caps, err = backend.Capabilities(ctx); err != nil {
		return fail(fmt.Errorf("capabilities: %w", err), proc.Name())
	}
	if err := checkCapabilities(mr.caps, r.cfg); err != nil {
		return fail(&InputError{err}, "")
	}
	if mr.caps.Compute != "" {
		r.writer.SetExtra(InfoBackendCompute, mr.caps.Compute) // e.g. the OpenBLAS kernels: they change speed and rounding
	}
	r.log.Info("loading model", "model", m.Name, "dir", m.Dir)
	start = time.Now()
	mr.info, err = backend.Load(ctx, plugins.LoadRequest{ModelDir: m.Dir, DType: r.cfg.DType, Threads: r.cfg.Threads, BatchSize: r.cfg.BatchSize})
	if err != nil {
		return fail(fmt.Errorf("load %s: %w", m.Dir, err), proc.Name())
	}
	r.log.Info("model loaded", "model", m.Name, "architecture", mr.info.Architecture, "layers", mr.info.NumLayers,
		"dtype", mr.info.DType, "took", time.Since(start).Round(time.Millisecond))
	if text := r.textTasks(); mr.info.TokenizerError != "" && len(text) > 0 {
		// Said now, not at the first such cell after minutes of other work.
		which := "task " + text[0] + " sends"
		if len(text) > 1 {
			which = "tasks " + strings.Join(text, ", ") + " send"
		}
		return fail(&InputError{fmt.Errorf("no usable tokenizer (%s), and %s text: put the model's tokenizer.json (or vocab.json + merges.txt) in %s, or leave out what needs it",
			mr.info.TokenizerError, which, m.Dir)}, "")
	}
	ivs, err := plan.Expand(r.cfg.Interventions, mr.info.NumLayers)
	if err != nil {
		return fail(&InputError{fmt.Errorf("--interventions: %w", err)}, "")
	}
	r.summary.Models = append(r.summary.Models, ModelSummary{Model: m, Hash: hash, Info: mr.info, Interventions: ivs})

	taskNames := make([]string, len(r.tasks))
	for i, t := range r.tasks {
		taskNames[i] = t.cfg.Name
	}
	cells := plan.Cells(m.Name, ivs, taskNames)
	r.planned += len(cells)
	if d := r.deps.Display; d != nil {
		d.AddCells(len(cells))
		if last {
			d.NoMoreCells() // the counts are final: "[3/49]", not "[3/49+]"
		}
	}
	for i, c := range cells {
		t := r.tasks[i%len(r.tasks)]
		if err := r.runCell(ctx, mr, c, t); err != nil {
			return err
		}
	}
	return nil
}

// textTasks names the tasks whose requests hold text for the backend to
// tokenize.
func (r *run) textTasks() []string {
	var names []string
	for _, t := range r.tasks {
		for _, q := range t.reqs {
			if q.Loglikelihood != nil || (q.Rolling != nil && q.Rolling.IDs == nil) {
				names = append(names, t.cfg.Name)
				break
			}
		}
	}
	return names
}

func checkCapabilities(caps plugins.Capabilities, cfg Config) error {
	if caps.Unavailable != "" {
		return fmt.Errorf("backend %s cannot run on this machine: %s", cfg.Backend, caps.Unavailable)
	}
	if cfg.DType != "" && len(caps.DTypes) > 0 && !containsString(caps.DTypes, cfg.DType) {
		return fmt.Errorf("--dtype %s: backend %s supports %s", cfg.DType, cfg.Backend, strings.Join(caps.DTypes, ", "))
	}
	for _, s := range cfg.Interventions {
		if s.Kind == intervention.None {
			continue
		}
		ok := false
		for _, k := range caps.InterventionKinds {
			ok = ok || k == s.Kind
		}
		if !ok {
			kinds := make([]string, len(caps.InterventionKinds))
			for i, k := range caps.InterventionKinds {
				kinds[i] = string(k)
			}
			return fmt.Errorf("--interventions %s: backend %s cannot apply %s (it supports %s)", s, cfg.Backend, s.Kind, strings.Join(kinds, ", "))
		}
	}
	return nil
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// cellKey identifies a cell's result: what computed it and on what.
func cellKey(mr *modelRun, iv intervention.Intervention, t *preparedTask) string {
	h := sha256.New()
	for _, s := range []string{"memscope-cell-key-v1", mr.hash, mr.caps.Name, mr.caps.Version, mr.info.DType, iv.String(),
		t.info.Name, t.info.Version, t.confHash, t.digest} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (r *run) label(c plan.Cell) string {
	if len(r.cfg.Models) > 1 {
		return c.Model + " · " + c.Intervention.String() + " · " + c.Task
	}
	return c.Intervention.String() + " · " + c.Task
}

func (r *run) runCell(ctx context.Context, mr *modelRun, c plan.Cell, t *preparedTask) error {
	if err := ctx.Err(); err != nil {
		return &CellError{Cell: c, Err: err}
	}
	key := cellKey(mr, c.Intervention, t)
	saved, found, err := r.resume.load(key)
	if err != nil {
		r.log.Warn("ignoring a damaged finished cell; computing it again", "error", err)
	}
	resumed, cached := found, false
	if found {
		saved, err = r.rescore(ctx, c, t, saved)
	} else {
		saved, cached, err = r.computeCell(ctx, mr, c, t, key)
	}
	if err != nil {
		return err
	}
	res, err := buildCellResult(r.resultCell(mr, c, t), t.reqs, saved)
	if err != nil {
		return &CellError{Cell: c, Plugin: t.proc.Name(), Err: err}
	}
	if err := r.writer.Add(res); err != nil {
		return &CellError{Cell: c, Err: err}
	}
	if resumed {
		r.summary.Resumed++
		if d := r.deps.Display; d != nil {
			d.Resumed(r.label(c), metricSummary(saved.Scores))
		}
	} else {
		r.summary.Computed++
		if cached {
			r.summary.Cached++
		}
	}
	if r.deps.AfterCell != nil {
		r.deps.AfterCell(CellEvent{Cell: c, Resumed: resumed, Backend: mr.proc})
	}
	return nil
}

func (r *run) resultCell(mr *modelRun, c plan.Cell, t *preparedTask) results.Cell {
	return results.Cell{
		Model:        c.Model,
		ModelHash:    mr.hash,
		Backend:      r.cfg.Backend,
		DType:        mr.info.DType,
		Intervention: c.Intervention,
		Task:         t.info.Name,
		TaskVersion:  t.info.Version,
		TaskCategory: t.info.Category,
	}
}

// computeCell answers the cell's requests (cache first, then the backend
// chunk by chunk), scores them and saves the finished cell. The bool says
// that the cache answered every request.
func (r *run) computeCell(ctx context.Context, mr *modelRun, c plan.Cell, t *preparedTask, key string) (*savedCell, bool, error) {
	start := time.Now()
	fail := func(plugin string, err error) (*savedCell, bool, error) {
		return nil, false, &CellError{Cell: c, Plugin: plugin, Err: err}
	}
	n := len(t.reqs)
	resps := make([]plugins.Response, n)
	have := make([]bool, n)
	scope := cache.Scope{ModelHash: mr.hash, Backend: r.cfg.Backend, BackendVersion: mr.caps.Version, DType: mr.info.DType, Intervention: c.Intervention.String()}
	var keys []cache.Key
	cached := 0
	if r.deps.Cache != nil {
		var err error
		if keys, err = scope.Keys(t.reqs); err != nil {
			return fail(t.proc.Name(), err)
		}
		got, err := r.deps.Cache.Get(keys)
		if err != nil {
			return fail("", err)
		}
		for i, g := range got {
			if g != nil && sameKind(t.reqs[i], *g) {
				resps[i], have[i] = *g, true
				cached++
			}
		}
	}
	var bar *progress.Cell
	if d := r.deps.Display; d != nil {
		bar = d.StartCell(r.label(c), n, cached)
	}
	ok := false
	defer func() {
		if !ok && bar != nil {
			bar.Fail()
		}
	}()
	if cached > 0 {
		r.log.Debug("answers from the cache", "cell", c.String(), "cached", cached, "of", n)
	}

	answered := cached
	for _, ch := range chunks(t.reqs, r.cfg.ChunkSize) {
		var miss []int
		for i := ch.lo; i < ch.hi; i++ {
			if !have[i] {
				miss = append(miss, i)
			}
		}
		if len(miss) == 0 {
			continue
		}
		base := answered
		progressFn := func(done float64) {
			if bar != nil {
				bar.ProgressFraction(float64(base) + done)
			}
		}
		if err := r.callBackend(ctx, mr, c.Intervention, t.reqs, miss, resps, progressFn); err != nil {
			return fail(mr.proc.Name(), err)
		}
		if r.deps.Cache != nil {
			ks := make([]cache.Key, len(miss))
			rs := make([]plugins.Response, len(miss))
			for j, i := range miss {
				ks[j], rs[j] = keys[i], resps[i]
			}
			if err := r.deps.Cache.Put(ks, rs); err != nil {
				return fail("", err)
			}
		}
		for _, i := range miss {
			have[i] = true
		}
		answered += len(miss)
		if bar != nil {
			bar.Progress(answered)
		}
	}

	scores, err := t.task.Score(ctx, t.opts, t.reqs, resps)
	if err != nil {
		return fail(t.proc.Name(), fmt.Errorf("score: %w", err))
	}
	saved, err := normalize(&savedCell{Key: key, Cell: c.String(), Responses: resps, Scores: scores, Elapsed: time.Since(start)})
	if err != nil {
		return fail("", err)
	}
	if err := r.resume.save(saved); err != nil {
		return fail("", fmt.Errorf("keep finished cell: %w", err))
	}
	ok = true
	if bar != nil {
		bar.Done(metricSummary(saved.Scores))
	}
	return saved, cached == n, nil
}

// rescore scores a finished cell's saved answers again. The answers are
// reused because the requests are the same (the cell key covers them), but
// a task's scores may also depend on data that makes no request — labels,
// gold answers, group_by fields — which can change between runs under the
// same file name; scoring is cheap next to the backend, so a resumed cell
// always shows what the current data says.
func (r *run) rescore(ctx context.Context, c plan.Cell, t *preparedTask, saved *savedCell) (*savedCell, error) {
	scores, err := t.task.Score(ctx, t.opts, t.reqs, saved.Responses)
	if err != nil {
		return nil, &CellError{Cell: c, Plugin: t.proc.Name(), Err: fmt.Errorf("score: %w", err)}
	}
	out, err := normalize(&savedCell{Key: saved.Key, Cell: saved.Cell, Responses: saved.Responses, Scores: scores, Elapsed: saved.Elapsed})
	if err != nil {
		return nil, &CellError{Cell: c, Err: err}
	}
	return out, nil
}

type span struct{ lo, hi int }

// chunks splits requests into runs of about size requests, cut only
// between documents (a document's choices share a context the backend
// may reuse). The cuts depend only on the requests, so a resumed run sends
// the backend the same chunks as an uninterrupted one.
func chunks(reqs []plugins.Request, size int) []span {
	var out []span
	lo := 0
	for i := 1; i <= len(reqs); i++ {
		if i == len(reqs) || (i-lo >= size && reqs[i].DocIndex != reqs[i-1].DocIndex) {
			out = append(out, span{lo, i})
			lo = i
		}
	}
	return out
}

// callBackend answers reqs[idx] into resps, one backend call per request
// kind (in a chunk they are normally all of one kind). progress gets the
// number of requests answered, with the finished part of running ones: a
// backend counts its progress in its own items (the lm backends count
// rolling windows, so one long text moves), so done/total is what it says.
func (r *run) callBackend(ctx context.Context, mr *modelRun, iv intervention.Intervention, reqs []plugins.Request, idx []int, resps []plugins.Response, progress func(requests float64)) error {
	var ll, ro, ge []int
	for _, i := range idx {
		switch {
		case reqs[i].Loglikelihood != nil:
			ll = append(ll, i)
		case reqs[i].Rolling != nil:
			ro = append(ro, i)
		case reqs[i].Generate != nil:
			ge = append(ge, i)
		default:
			return fmt.Errorf("request %d (doc %d) sets no request", i, reqs[i].DocIndex)
		}
	}
	offset := 0
	sub := func(n int) plugins.Progress {
		base := offset
		offset += n
		return func(done, total int) {
			if total > 0 {
				progress(float64(base) + float64(n)*float64(min(done, total))/float64(total))
			}
		}
	}
	if len(ll) > 0 {
		in := make([]plugins.LoglikelihoodRequest, len(ll))
		for j, i := range ll {
			in[j] = *reqs[i].Loglikelihood
		}
		out, err := mr.backend.Loglikelihood(ctx, iv, in, sub(len(ll)))
		if err != nil {
			return err
		}
		if len(out) != len(in) {
			return fmt.Errorf("backend answered %d of %d loglikelihood requests", len(out), len(in))
		}
		for j, i := range ll {
			v := out[j]
			resps[i] = plugins.Response{Loglikelihood: &v}
		}
	}
	if len(ro) > 0 {
		in := make([]plugins.RollingRequest, len(ro))
		for j, i := range ro {
			in[j] = *reqs[i].Rolling
		}
		out, err := mr.backend.LoglikelihoodRolling(ctx, iv, in, sub(len(ro)))
		if err != nil {
			return err
		}
		if len(out) != len(in) {
			return fmt.Errorf("backend answered %d of %d rolling requests", len(out), len(in))
		}
		for j, i := range ro {
			v := out[j]
			resps[i] = plugins.Response{Rolling: &v}
		}
	}
	if len(ge) > 0 {
		in := make([]plugins.GenerateRequest, len(ge))
		for j, i := range ge {
			in[j] = *reqs[i].Generate
		}
		out, err := mr.backend.GenerateTokens(ctx, iv, in, sub(len(ge)))
		if err != nil {
			return err
		}
		if len(out) != len(in) {
			return fmt.Errorf("backend answered %d of %d generate requests", len(out), len(in))
		}
		for j, i := range ge {
			v := out[j]
			resps[i] = plugins.Response{Generate: &v}
		}
	}
	return nil
}

func sameKind(rq plugins.Request, rs plugins.Response) bool {
	return (rq.Loglikelihood != nil) == (rs.Loglikelihood != nil) &&
		(rq.Rolling != nil) == (rs.Rolling != nil) &&
		(rq.Generate != nil) == (rs.Generate != nil)
}

// metricSummary renders a cell's metrics for its progress line.
func metricSummary(s plugins.Scores) string {
	parts := make([]string, 0, len(s.Metrics))
	for _, m := range s.Metrics {
		parts = append(parts, fmt.Sprintf("%s=%s", m.Name, formatValue(m.Value)))
	}
	if len(parts) == 0 {
		return "no metrics"
	}
	return strings.Join(parts, " ")
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) >= 2 && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f", v) // counts ("extracted=86")
	case v != 0 && (math.Abs(v) >= 1e4 || math.Abs(v) < 1e-3):
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.4f", v)
}

// buildCellResult turns a cell's requests, answers and scores into result
// rows.
func buildCellResult(cell results.Cell, reqs []plugins.Request, s *savedCell) (results.CellResult, error) {
	if len(s.Responses) != len(reqs) {
		return results.CellResult{}, fmt.Errorf("%d answers for %d requests", len(s.Responses), len(reqs))
	}
	out := results.CellResult{Cell: cell}
	for _, m := range s.Scores.Metrics {
		out.Metrics = append(out.Metrics, results.MetricRow{Metric: m.Name, Value: m.Value, Stderr: m.Stderr, N: m.N, HigherIsBetter: m.HigherIsBetter})
	}
	for _, d := range s.Scores.Docs {
		out.Docs = append(out.Docs, results.DocRow{DocIndex: d.DocIndex, Gold: d.Gold, Prediction: d.Prediction,
			ChoiceLogLikelihoods: d.ChoiceLogLikelihoods, Metrics: d.Metrics})
	}
	out.Requests = make([]results.RequestRow, len(reqs))
	for i, rq := range reqs {
		row := results.RequestRow{DocIndex: rq.DocIndex, RequestIndex: rq.Index}
		rs := s.Responses[i]
		if !sameKind(rq, rs) {
			return results.CellResult{}, fmt.Errorf("request %d (doc %d): answer of the wrong kind", i, rq.DocIndex)
		}
		switch {
		case rq.Loglikelihood != nil:
			row.RequestType = results.RequestLoglikelihood
			row.Context, row.Continuation = rq.Loglikelihood.Context, rq.Loglikelihood.Continuation
			a := rs.Loglikelihood
			row.LogLikelihood, row.IsGreedy = a.LogLikelihood, a.IsGreedy
			row.ContextTokens, row.ContinuationTokens = a.ContextTokens, a.ContinuationTokens
		case rq.Rolling != nil:
			row.RequestType = results.RequestLoglikelihoodRolling
			row.Context, row.InputIDs = rq.Rolling.Text, rq.Rolling.IDs
			a := rs.Rolling
			row.LogLikelihood = a.LogLikelihood
			row.IsGreedy = len(a.Greedy) > 0
			for _, g := range a.Greedy {
				row.IsGreedy = row.IsGreedy && g
			}
			row.ContextTokens = rq.Rolling.ContextLen
			row.ContinuationTokens = len(a.LogProbs)
		case rq.Generate != nil:
			row.RequestType = results.RequestGenerateTokens
			row.InputIDs = rq.Generate.Prefix
			row.LogLikelihood = math.NaN() // greedy generation reports no log-likelihood
			row.IsGreedy = true
			row.ContextTokens = len(rq.Generate.Prefix)
			row.ContinuationTokens = len(rs.Generate.IDs)
			row.GeneratedIDs = rs.Generate.IDs
		}
		out.Requests[i] = row
	}
	return out, nil
}
