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
	"errors"
	"fmt"
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
			if k := q.Kind(); k == plugins.KindLoglikelihood || (k == plugins.KindLoglikelihoodRolling && q.Rolling.IDs == nil) {
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
