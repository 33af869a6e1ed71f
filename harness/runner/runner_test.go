package runner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/harness/cache"
	"github.com/memscope/memscope/harness/internal/testplugins/fake"
	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/harness/progress"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// ------------------------------------------------- in-process plugin fakes

type fakeProc struct {
	name   string
	killed atomic.Bool
}

func (p *fakeProc) Name() string { return p.name }
func (p *fakeProc) Kill()        { p.killed.Store(true) }
func (p *fakeProc) Exited() bool { return p.killed.Load() }

var errKilled = fmt.Errorf("killed: %w", plugins.ErrPluginExited)

// killable fails every call once its process is killed, as a real
// plugin's calls do.
type killable struct {
	*fake.Backend
	proc *fakeProc
}

func (k killable) check() error {
	if k.proc.killed.Load() {
		return errKilled
	}
	return nil
}

func (k killable) Loglikelihood(ctx context.Context, iv intervention.Intervention, r []plugins.LoglikelihoodRequest, p plugins.Progress) ([]plugins.LoglikelihoodResult, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.Backend.Loglikelihood(ctx, iv, r, p)
}

func (k killable) GenerateTokens(ctx context.Context, iv intervention.Intervention, r []plugins.GenerateRequest, p plugins.Progress) ([]plugins.GenerateResult, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	return k.Backend.GenerateTokens(ctx, iv, r, p)
}

// env is a test's world: models, plugins it starts, a cache.
type env struct {
	t        *testing.T
	models   []plan.Model
	mu       sync.Mutex
	backends []*fake.Backend
	procs    []*fakeProc
	// configure is applied to each backend started.
	configure func(*fake.Backend)
	started   map[string]int
}

func newEnv(t *testing.T, layers ...int) *env {
	e := &env{t: t, started: map[string]int{}}
	root := t.TempDir()
	for i, n := range layers {
		dir := filepath.Join(root, fmt.Sprintf("model%d", i))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), fmt.Appendf(nil, `{"num_hidden_layers": %d}`, n), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), fmt.Appendf(nil, "weights %d", i), 0o644))
		e.models = append(e.models, plan.Model{Dir: dir, Name: fmt.Sprintf("model%d", i)})
	}
	return e
}

func (e *env) deps(c *cache.Store) Deps {
	return Deps{
		StartBackend: func(name string) (plugins.Backend, Proc, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if name != "fake" {
				return nil, nil, fmt.Errorf("no backend %s", name)
			}
			e.started["backend"]++
			b := &fake.Backend{}
			if e.configure != nil {
				e.configure(b)
			}
			p := &fakeProc{name: "backend fake"}
			e.backends = append(e.backends, b)
			e.procs = append(e.procs, p)
			return killable{b, p}, p, nil
		},
		StartTask: func(name string) (plugins.Task, Proc, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.started["task "+name]++
			p := &fakeProc{name: "task " + name}
			e.procs = append(e.procs, p)
			switch name {
			case "fakemc":
				return fake.MC{}, p, nil
			case "fakegen":
				return fake.Gen{}, p, nil
			}
			return nil, nil, fmt.Errorf("no task %s", name)
		},
		Cache: c,
	}
}

func (e *env) served() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, b := range e.backends {
		n += b.Served()
	}
	return n
}

func (e *env) allKilled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.procs {
		if !p.killed.Load() {
			return false
		}
	}
	return true
}

func (e *env) config(out string, specs ...string) Config {
	ss, err := plan.ParseInterventions(specs)
	require.NoError(e.t, err)
	return Config{
		Models:        e.models,
		Backend:       "fake",
		Tasks:         []TaskConfig{{Name: "fakemc"}, {Name: "fakegen"}},
		Interventions: ss,
		Seed:          1234,
		OutDir:        out,
		ChunkSize:     8,
		Info:          results.RunInfo{HarnessVersion: "test"},
	}
}

func openCache(t *testing.T) *cache.Store {
	c, err := cache.Open(t.TempDir(), cache.Options{})
	require.NoError(t, err)
	return c
}

// tables renders a run's rows as text (NaN-safe), sorted, for comparison.
func tables(t *testing.T, dir string) (metrics, docs, reqs []string) {
	t.Helper()
	run, err := results.Read(dir)
	require.NoError(t, err)
	for _, m := range run.Metrics {
		metrics = append(metrics, fmt.Sprintf("%+v", m))
	}
	for _, d := range run.Docs {
		docs = append(docs, fmt.Sprintf("%+v", d))
	}
	for _, r := range run.Requests {
		reqs = append(reqs, fmt.Sprintf("%+v", r))
	}
	return metrics, docs, reqs
}

func metricValue(t *testing.T, dir, iv, task, metric string) float64 {
	t.Helper()
	run, err := results.Read(dir)
	require.NoError(t, err)
	for _, m := range run.Metrics {
		if m.Intervention.String() == iv && m.Task == task && m.Metric == metric {
			return m.Value
		}
	}
	t.Fatalf("no metric %s of %s under %s", metric, task, iv)
	return 0
}

// -------------------------------------------------------------- the tests

func TestRunWritesEveryCell(t *testing.T) {
	e := newEnv(t, 3)
	out := t.TempDir()
	var events []string
	deps := e.deps(nil)
	deps.AfterCell = func(ev CellEvent) { events = append(events, ev.Cell.String()) }
	sum, err := Run(context.Background(), e.config(out, "attn-sc:each", "none"), deps)
	require.NoError(t, err)
	assert.Equal(t, 8, sum.Cells)
	assert.Equal(t, 8, sum.Computed)
	assert.Zero(t, sum.Resumed)
	require.Len(t, sum.Models, 1)
	assert.Equal(t, 3, sum.Models[0].Info.NumLayers)
	assert.Len(t, sum.Info.TaskConfigHashes, 2)
	assert.Equal(t, 1, e.started["backend"], "one backend per model")
	assert.Equal(t, 1, e.started["task fakemc"])
	assert.Equal(t, 1, e.started["task fakegen"])
	assert.True(t, e.allKilled(), "every plugin killed at the end")
	assert.Equal(t, []string{
		"model model0, intervention none, task fakemc", "model model0, intervention none, task fakegen",
		"model model0, intervention attn-sc:0, task fakemc", "model model0, intervention attn-sc:0, task fakegen",
		"model model0, intervention attn-sc:1, task fakemc", "model model0, intervention attn-sc:1, task fakegen",
		"model model0, intervention attn-sc:2, task fakemc", "model model0, intervention attn-sc:2, task fakegen",
	}, events)

	run, err := results.Read(out)
	require.NoError(t, err)
	assert.Len(t, run.Metrics, 8)
	assert.Len(t, run.Docs, 4*(12+10))
	assert.Len(t, run.Requests, 4*(12*3+10))
	assert.Equal(t, "test", run.Info.HarnessVersion)
	assert.Equal(t, sum.Info.TaskConfigHashes, run.Info.TaskConfigHashes)
	assert.Equal(t, "fake kernels", run.Info.Extra[InfoBackendCompute], "what the backend computes with is provenance")

	// The answers are the backend's, cell by cell.
	for _, r := range run.Requests {
		if r.Task != "fakemc" {
			continue
		}
		require.Equal(t, fake.LL(r.Intervention, r.Context, r.Continuation), r.LogLikelihood, "%+v", r)
	}
	// Memorization breaks under odd blocks only (the fake's rule).
	assert.Equal(t, 1.0, metricValue(t, out, "none", "fakegen", "exact_match"))
	assert.Equal(t, 1.0, metricValue(t, out, "attn-sc:0", "fakegen", "exact_match"))
	assert.Equal(t, 0.0, metricValue(t, out, "attn-sc:1", "fakegen", "exact_match"))
	for _, m := range run.Metrics {
		assert.Equal(t, "model0", m.Model)
		assert.Equal(t, "fake", m.Backend)
		assert.Equal(t, "float32", m.DType)
		assert.True(t, strings.HasPrefix(m.ModelHash, "sha256:"))
		if m.Task == "fakegen" {
			assert.Equal(t, plugins.CategoryMemorization, m.TaskCategory)
		}
	}
}

func TestSeveralModels(t *testing.T) {
	e := newEnv(t, 2, 3)
	out := t.TempDir()
	cfg := e.config(out, "attn-zero:each")
	cfg.Tasks = cfg.Tasks[1:]
	sum, err := Run(context.Background(), cfg, e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 3+4, sum.Cells)
	assert.Equal(t, 2, e.started["backend"], "one backend per model")
	assert.Equal(t, 1, e.started["task fakegen"], "one task plugin per run")
	run, err := results.Read(out)
	require.NoError(t, err)
	per := map[string]int{}
	for _, m := range run.Metrics {
		per[m.Model]++
	}
	assert.Equal(t, map[string]int{"model0": 3, "model1": 4}, per)
}

func TestCacheAnswersARepeatedRun(t *testing.T) {
	e := newEnv(t, 2)
	c := openCache(t)
	first, second := t.TempDir(), t.TempDir()
	_, err := Run(context.Background(), e.config(first, "attn-sc:each"), e.deps(c))
	require.NoError(t, err)
	computed := e.served()
	assert.Equal(t, 3*(36+10), computed)

	// Another out dir (no finished cells to resume): all from the cache.
	sum, err := Run(context.Background(), e.config(second, "attn-sc:each"), e.deps(c))
	require.NoError(t, err)
	assert.Equal(t, 6, sum.Computed)
	assert.Equal(t, 6, sum.Cached, "every cell came from the cache")
	assert.Equal(t, computed, e.served(), "the backend was asked again")
	m1, d1, r1 := tables(t, first)
	m2, d2, r2 := tables(t, second)
	assert.Equal(t, m1, m2)
	assert.Equal(t, d1, d2)
	assert.Equal(t, r1, r2)

	// A new intervention or dtype misses the cache.
	cfg := e.config(t.TempDir(), "attn-zero:1")
	sum, err = Run(context.Background(), cfg, e.deps(c))
	require.NoError(t, err)
	assert.Equal(t, computed+(36+10), e.served(), "only attn-zero:1 is new")
	assert.Equal(t, 2, sum.Cached, "the baseline's two cells came from the cache")
	cfg = e.config(t.TempDir())
	cfg.DType = "float16"
	_, err = Run(context.Background(), cfg, e.deps(c))
	require.NoError(t, err)
	assert.Equal(t, computed+2*(36+10), e.served(), "float16 is new")
}

func TestSameOutDirResumesEverything(t *testing.T) {
	e := newEnv(t, 2)
	out := t.TempDir()
	_, err := Run(context.Background(), e.config(out, "attn-sc:each"), e.deps(nil))
	require.NoError(t, err)
	before := e.served()
	m1, d1, r1 := tables(t, out)
	sum, err := Run(context.Background(), e.config(out, "attn-sc:each"), e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 6, sum.Resumed)
	assert.Equal(t, before, e.served())
	m2, d2, r2 := tables(t, out)
	assert.Equal(t, m1, m2)
	assert.Equal(t, d1, d2)
	assert.Equal(t, r1, r2)

	// A changed task option is another cell: computed, not resumed.
	cfg := e.config(out, "attn-sc:each")
	cfg.Tasks[0].Options = map[string]string{"docs": "5"}
	sum, err = Run(context.Background(), cfg, e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 3, sum.Resumed)
	assert.Equal(t, 3, sum.Computed)
}

func TestCrashStopsThenResumeGivesSameTables(t *testing.T) {
	for _, withCache := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", withCache), func(t *testing.T) {
			e := newEnv(t, 3)
			var c *cache.Store
			if withCache {
				c = openCache(t)
			}
			ref := t.TempDir()
			_, err := Run(context.Background(), e.config(ref, "attn-sc:each"), e.deps(nil))
			require.NoError(t, err)
			total := e.served()

			out := t.TempDir()
			e.configure = func(b *fake.Backend) { b.CrashAtCall = 7 } // mid-run, mid-chunk
			_, err = Run(context.Background(), e.config(out, "attn-sc:each"), e.deps(c))
			require.Error(t, err)
			var ce *CellError
			require.ErrorAs(t, err, &ce)
			assert.ErrorIs(t, err, plugins.ErrPluginExited)
			assert.Contains(t, err.Error(), "plugin backend fake crashed while running model model0, intervention ")
			assert.Contains(t, err.Error(), ", task ")
			assert.Equal(t, "backend fake", ce.Plugin)
			assert.Positive(t, ce.Finished)
			assert.Less(t, ce.Finished, 8)
			assert.Equal(t, 8, ce.Total)
			assert.NoFileExists(t, filepath.Join(out, results.MetricsFile), "no tables from a failed run")
			assert.True(t, e.allKilled())

			e.configure = nil
			crashed := e.served()
			lost := crashed - total // requests the crashed run computed
			sum, err := Run(context.Background(), e.config(out, "attn-sc:each"), e.deps(c))
			require.NoError(t, err)
			assert.Equal(t, ce.Finished, sum.Resumed)
			if withCache {
				// Only the chunk cut short by the crash (at most 8
				// requests plus a document's choices) is computed again.
				assert.LessOrEqual(t, e.served()-crashed, total-lost+8+3)
				assert.GreaterOrEqual(t, e.served()-crashed, total-lost)
			}
			m1, d1, r1 := tables(t, ref)
			m2, d2, r2 := tables(t, out)
			assert.Equal(t, m1, m2)
			assert.Equal(t, d1, d2)
			assert.Equal(t, r1, r2)
		})
	}
}

func TestKilledBackendAfterFirstCell(t *testing.T) {
	e := newEnv(t, 2)
	out := t.TempDir()
	deps := e.deps(nil)
	deps.AfterCell = func(ev CellEvent) {
		if !ev.Resumed {
			ev.Backend.Kill()
		}
	}
	_, err := Run(context.Background(), e.config(out, "attn-sc:each"), deps)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "plugin backend fake crashed while running model model0, intervention none, task fakegen")
	var ce *CellError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Finished)

	sum, err := Run(context.Background(), e.config(out, "attn-sc:each"), e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Resumed)
	assert.Equal(t, 5, sum.Computed)
}

func TestInterruptKeepsFinishedCells(t *testing.T) {
	e := newEnv(t, 2)
	out := t.TempDir()
	e.configure = func(b *fake.Backend) { b.Delay = 2 * time.Millisecond }
	ctx, cancel := context.WithCancel(context.Background())
	deps := e.deps(nil)
	deps.AfterCell = func(ev CellEvent) {
		if ev.Cell.Intervention.String() == "attn-sc:0" && ev.Cell.Task == "fakemc" {
			cancel()
		}
	}
	_, err := Run(ctx, e.config(out, "attn-sc:each"), deps)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "interrupted while running model model0, intervention attn-sc:0, task fakegen")
	assert.True(t, e.allKilled())
	assert.NoFileExists(t, filepath.Join(out, results.MetricsFile))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	for _, en := range entries {
		assert.Equal(t, StateDir, en.Name(), "the writer left %s behind", en.Name())
	}

	e.configure = nil
	sum, err := Run(context.Background(), e.config(out, "attn-sc:each"), e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 3, sum.Resumed)
}

func TestDamagedFinishedCellIsRecomputed(t *testing.T) {
	e := newEnv(t, 1)
	out := t.TempDir()
	_, err := Run(context.Background(), e.config(out), e.deps(nil))
	require.NoError(t, err)
	m1, _, _ := tables(t, out)
	files, err := filepath.Glob(filepath.Join(out, StateDir, "cells", "*.gob"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	sort.Strings(files)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(files[0], data, 0o644))
	require.NoError(t, os.WriteFile(files[1], data[:10], 0o644))
	sum, err := Run(context.Background(), e.config(out), e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Computed)
	m2, _, _ := tables(t, out)
	assert.Equal(t, m1, m2)
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config(t.TempDir())
	cfg.Tasks[0].Options = map[string]string{"bogus": "1", "docs": "3"}
	_, err := Run(context.Background(), cfg, e.deps(nil))
	assert.ErrorContains(t, err, "--task-opt: task fakemc has no option bogus (its options are docs, choices")
	assert.ErrorAs(t, err, new(*InputError))
	assert.True(t, e.allKilled())

	cfg = e.config(t.TempDir())
	cfg.Tasks[0].Options = map[string]string{"docs": "x"}
	_, err = Run(context.Background(), cfg, e.deps(nil))
	assert.ErrorContains(t, err, `task fakemc: build requests: option docs="x"`)
	assert.ErrorAs(t, err, new(*InputError), "a bad option value is the user's to fix")

	cfg = e.config(t.TempDir())
	cfg.DType = "bfloat16"
	_, err = Run(context.Background(), cfg, e.deps(nil))
	assert.ErrorContains(t, err, "--dtype bfloat16: backend fake supports float32, float16")

	cfg = e.config(t.TempDir(), "attn-sc:5")
	_, err = Run(context.Background(), cfg, e.deps(nil))
	assert.ErrorContains(t, err, "model model0: --interventions: intervention attn-sc:5: block 5 does not exist (the model has blocks 0-1)")
	var ie *InputError
	assert.ErrorAs(t, err, &ie)

	cfg = e.config(t.TempDir())
	cfg.Docs = []plugins.DocRange{{First: 500, Last: 600}}
	_, err = Run(context.Background(), cfg, e.deps(nil))
	assert.ErrorContains(t, err, "task fakemc: no requests")
	assert.ErrorAs(t, err, new(*InputError))

	cfg = e.config(t.TempDir())
	cfg.Backend = "nope"
	_, err = Run(context.Background(), cfg, e.deps(nil))
	assert.ErrorContains(t, err, "no backend nope")
	assert.True(t, e.allKilled())
}

func TestLimitAndDocsReachTheTask(t *testing.T) {
	e := newEnv(t, 1)
	out := t.TempDir()
	cfg := e.config(out)
	cfg.Docs = []plugins.DocRange{{First: 2, Last: 7}}
	cfg.Limit = 4
	_, err := Run(context.Background(), cfg, e.deps(nil))
	require.NoError(t, err)
	run, err := results.Read(out)
	require.NoError(t, err)
	var idx []int
	for _, d := range run.Docs {
		if d.Task == "fakemc" {
			idx = append(idx, d.DocIndex)
		}
	}
	assert.Equal(t, []int{2, 3, 4, 5}, idx)
}

func TestChunksCutBetweenDocuments(t *testing.T) {
	var reqs []plugins.Request
	for d := range 5 {
		for c := range 3 {
			reqs = append(reqs, plugins.Request{DocIndex: d, Index: c})
		}
	}
	assert.Equal(t, []span{{0, 6}, {6, 12}, {12, 15}}, chunks(reqs, 4))
	assert.Equal(t, []span{{0, 15}}, chunks(reqs, 100))
	assert.Equal(t, []span{{0, 3}, {3, 6}, {6, 9}, {9, 12}, {12, 15}}, chunks(reqs, 1))
	assert.Empty(t, chunks(nil, 4))
}

func TestCellErrorMessages(t *testing.T) {
	c := plan.Cell{Model: "m", Intervention: intervention.New(intervention.AttnShortCircuit, 3), Task: "piqa"}
	err := &CellError{Cell: c, Plugin: "backend cpu", Err: fmt.Errorf("call: %w", plugins.ErrPluginExited)}
	assert.Equal(t, "plugin backend cpu crashed while running model m, intervention attn-sc:3, task piqa: call: plugin process exited", err.Error())
	err = &CellError{Cell: plan.Cell{Model: "m"}, Err: errors.New("boom")}
	assert.Equal(t, "model m: boom", err.Error())
}

func TestMetricSummary(t *testing.T) {
	s := plugins.Scores{Metrics: []plugins.MetricValue{
		{Name: "exact_match", Value: 0.215}, {Name: "extracted", Value: 86}, {Name: "acc", Value: 1},
		{Name: "perplexity", Value: 12345.6}, {Name: "x", Value: math.NaN()}, {Name: "tiny", Value: 0.00012},
	}}
	assert.Equal(t, "exact_match=0.2150 extracted=86 acc=1.0000 perplexity=1.23e+04 x=n/a tiny=0.00012", metricSummary(s))
	assert.Equal(t, "no metrics", metricSummary(plugins.Scores{}))
}

// relabeled is fake.MC whose scores also depend on data that makes no
// request (like a labels file edited between runs).
type relabeled struct {
	fake.MC
	label *atomic.Int64
}

func (r relabeled) Score(ctx context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	s, err := r.MC.Score(ctx, opts, reqs, resps)
	s.Metrics = append(s.Metrics, plugins.MetricValue{Name: "label", Value: float64(r.label.Load()), N: 1})
	return s, err
}

func TestResumedCellIsScoredWithTheCurrentData(t *testing.T) {
	e := newEnv(t, 1)
	out := t.TempDir()
	var label atomic.Int64
	label.Store(1)
	deps := e.deps(nil)
	deps.StartTask = func(name string) (plugins.Task, Proc, error) {
		return relabeled{label: &label}, &fakeProc{name: "task " + name}, nil
	}
	cfg := e.config(out, "attn-sc:0")
	cfg.Tasks = cfg.Tasks[:1]
	_, err := Run(context.Background(), cfg, deps)
	require.NoError(t, err)
	served := e.served()
	assert.Equal(t, 1.0, metricValue(t, out, "attn-sc:0", "fakemc", "label"))

	label.Store(2) // the labels change, the requests do not
	sum, err := Run(context.Background(), cfg, deps)
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Resumed, "the answers are reused")
	assert.Equal(t, served, e.served(), "the backend was not asked again")
	assert.Equal(t, 2.0, metricValue(t, out, "none", "fakemc", "label"), "a resumed cell shows stale scores")
	assert.Equal(t, 2.0, metricValue(t, out, "attn-sc:0", "fakemc", "label"))
}

func TestFailedRunLeavesNoEmptyResultsFolder(t *testing.T) {
	e := newEnv(t, 2)
	parent := t.TempDir()
	out := filepath.Join(parent, "results")
	cfg := e.config(out)
	cfg.Tasks[0].Options = map[string]string{"bogus": "1"}
	_, err := Run(context.Background(), cfg, e.deps(nil))
	require.ErrorAs(t, err, new(*InputError))
	assert.NoDirExists(t, out, "a run refused before any cell left a results folder")

	cfg = e.config(out, "attn-sc:7") // fails once the model is loaded
	_, err = Run(context.Background(), cfg, e.deps(nil))
	require.ErrorAs(t, err, new(*InputError))
	assert.NoDirExists(t, out)

	// A folder the user made is theirs: it stays, only our state goes.
	require.NoError(t, os.Mkdir(out, 0o755))
	_, err = Run(context.Background(), cfg, e.deps(nil))
	require.Error(t, err)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries)

	// Finished cells are kept for the re-run.
	deps := e.deps(nil)
	deps.AfterCell = func(ev CellEvent) { ev.Backend.Kill() }
	_, err = Run(context.Background(), e.config(out, "attn-sc:each"), deps)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	files, err := filepath.Glob(filepath.Join(out, StateDir, "cells", "*.gob"))
	require.NoError(t, err)
	assert.Len(t, files, 1)
}

// failingRequests is a task whose Requests fails the way a plugin's call
// does: the error already names the task and the call.
type failingRequests struct{ fake.MC }

func (failingRequests) Requests(context.Context, plugins.TaskOptions) ([]plugins.Request, error) {
	return nil, errors.New("task fakemc: Requests: fakemc needs its data: pass --task-opt fakemc.data=PATH")
}

func TestTaskErrorsNameTheTaskOnce(t *testing.T) {
	e := newEnv(t, 1)
	deps := e.deps(nil)
	deps.StartTask = func(name string) (plugins.Task, Proc, error) {
		return failingRequests{}, &fakeProc{name: "task " + name}, nil
	}
	cfg := e.config(t.TempDir())
	cfg.Tasks = cfg.Tasks[:1]
	_, err := Run(context.Background(), cfg, deps)
	require.EqualError(t, err, "task fakemc: Requests: fakemc needs its data: pass --task-opt fakemc.data=PATH")

	deps.StartTask = func(name string) (plugins.Task, Proc, error) {
		return nil, nil, errors.New("start task fakemc (/bin/x): the plugin exited without a plugin handshake")
	}
	_, err = Run(context.Background(), cfg, deps)
	require.EqualError(t, err, "start task fakemc (/bin/x): the plugin exited without a plugin handshake")
}

func TestCellCountsSayWhenMoreModelsCome(t *testing.T) {
	e := newEnv(t, 2, 3)
	cfg := e.config(t.TempDir(), "attn-sc:each")
	cfg.Tasks = cfg.Tasks[1:]
	var buf strings.Builder
	deps := e.deps(nil)
	deps.Display = progress.New(context.Background(), &buf, progress.Lines)
	_, err := Run(context.Background(), cfg, deps)
	require.NoError(t, err)
	deps.Display.Close()
	var counts []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		counts = append(counts, strings.Fields(line)[0])
	}
	// The second model's cells are known once it is loaded: until then
	// the total is open; the last model's lines say the real total.
	assert.Equal(t, []string{"[1/3+]", "[2/3+]", "[3/3+]", "[4/7]", "[5/7]", "[6/7]", "[7/7]"}, counts)
}

// fineProgress reports progress in finer items than requests, as the lm
// backends do for rolling windows: several items per request.
type fineProgress struct {
	killable
	perRequest int
}

func (f fineProgress) Loglikelihood(ctx context.Context, iv intervention.Intervention, r []plugins.LoglikelihoodRequest, p plugins.Progress) ([]plugins.LoglikelihoodResult, error) {
	k := f.perRequest
	return f.killable.Loglikelihood(ctx, iv, r, func(done, total int) {
		p(k*done-k/2, k*total) // halfway through request done
		p(k*done, k*total)
	})
}

// A backend's progress counts its own items: the cell shows done/total of
// its requests, never more requests than the cell has.
func TestProgressInBackendItems(t *testing.T) {
	e := newEnv(t, 2)
	cfg := e.config(t.TempDir(), "none")
	cfg.Tasks = cfg.Tasks[:1] // fakemc: loglikelihood requests
	deps := e.deps(nil)
	start := deps.StartBackend
	deps.StartBackend = func(name string) (plugins.Backend, Proc, error) {
		b, p, err := start(name)
		if err != nil {
			return nil, nil, err
		}
		return fineProgress{b.(killable), 4}, p, nil
	}
	var buf strings.Builder
	d := progress.New(context.Background(), &buf, progress.Lines)
	d.LineEvery = time.Nanosecond
	deps.Display = d
	_, err := Run(context.Background(), cfg, deps)
	require.NoError(t, err)
	d.Close()
	re := regexp.MustCompile(`: ([0-9.]+)/([0-9]+) requests \(([0-9]+)%\)`)
	seen := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		seen++
		done, _ := strconv.ParseFloat(m[1], 64)
		total, _ := strconv.Atoi(m[2])
		pct, _ := strconv.Atoi(m[3])
		assert.LessOrEqual(t, done, float64(total), line)
		assert.LessOrEqual(t, pct, 100, line)
	}
	assert.Positive(t, seen, "progress lines: %s", buf.String())
}

// Two runs into one --out would replace each other's tables: the second
// is refused while the first holds the folder, and may go once it ended.
func TestOneRunAtATimePerOutDir(t *testing.T) {
	e := newEnv(t, 2)
	out := t.TempDir()
	cfg := e.config(out, "attn-sc:0")
	first, err := openResume(out) // as a run in progress holds it
	require.NoError(t, err)
	_, err = Run(context.Background(), cfg, e.deps(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("another memscope run (process %d) is writing results into %s", os.Getpid(), out))
	assert.Zero(t, e.served(), "the refused run computed nothing")
	first.release()
	_, err = Run(context.Background(), cfg, e.deps(nil))
	require.NoError(t, err)
	_, err = Run(context.Background(), cfg, e.deps(nil)) // released at the end
	require.NoError(t, err)
}

// A refused run that made no folder leaves none; the lock of a failed
// first run goes with the state folder it made.
func TestLockLeavesNoFolderBehind(t *testing.T) {
	out := filepath.Join(t.TempDir(), "new")
	s, err := openResume(out)
	require.NoError(t, err)
	s.removeIfEmpty()
	_, err = os.Stat(out)
	assert.True(t, os.IsNotExist(err), "the folder the run made is taken back")
}

// A model without a tokenizer fails at load when a task sends text, before
// any cell is computed; tasks that send ids still run.
func TestModelWithoutTokenizerAndTextTasks(t *testing.T) {
	e := newEnv(t, 2)
	e.configure = func(b *fake.Backend) { b.NoTokenizer = "no tokenizer.json" }
	out := t.TempDir()
	_, err := Run(context.Background(), e.config(out), e.deps(nil))
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.ErrorContains(t, err, "model model0: no usable tokenizer (no tokenizer.json), and task fakemc sends text")
	assert.NotContains(t, err.Error(), "fakegen", "fakegen sends token ids")
	assert.Zero(t, e.served())

	cfg := e.config(t.TempDir())
	cfg.Tasks = []TaskConfig{{Name: "fakegen"}}
	sum, err := Run(context.Background(), cfg, e.deps(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Computed)
}
