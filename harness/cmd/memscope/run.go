package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/memscope/memscope/harness/cache"
	"github.com/memscope/memscope/harness/embedded"
	"github.com/memscope/memscope/harness/modelhash"
	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/harness/pluginhost"
	"github.com/memscope/memscope/harness/progress"
	"github.com/memscope/memscope/harness/provenance"
	"github.com/memscope/memscope/harness/runner"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// gitCommit is set at build time with -ldflags "-X main.gitCommit=…" (the
// Taskfile passes `git rev-parse HEAD`; -buildvcs=false leaves no VCS stamp).
var gitCommit = ""

// runInfoAbility is the provenance key (RunInfo.Extra) of the run's
// --ability, so that memscope results leaderboard and plot show what the
// run printed.
const runInfoAbility = "ability"

// EnvCacheDir overrides the default cache folder.
const runEnvCacheDir = "MEMSCOPE_CACHE_DIR"

// Defaults of the embedded model's run (the paper's setting on it).
var runEmbeddedTasks = []string{"memorization", "heldout_perplexity", "lambada_openai", "piqa", "winogrande", "arc_easy", "hellaswag"}

type runFlags struct {
	models        []string
	backend       string
	tasks         []string
	interventions []string
	taskOpts      []string
	limit         int
	docs          string
	batchSize     string
	dtype         string
	threads       int
	device        int
	seed          int64
	out           string
	cacheDir      string
	noCache       bool
	pluginDirs    []string
	progress      string
	ability       []string
	verbose       bool
}

var runOpts runFlags

var runCmd = &cobra.Command{
	Use:   "run",
	Short: "Evaluate models × interventions × tasks and write the result tables",
	Long: `Run evaluates every task on every model under the baseline and under each
intervention, and writes three Arrow tables (metrics, docs, requests) into --out,
then the figures into OUT/figures, and prints the leaderboard.

Without --model, memscope runs its embedded memorizer model (a small Pythia-style
model that memorized planted sequences) on memorization (its planted canaries and
controls), heldout_perplexity and the embedded 200-document subsets of the five
benchmarks.

Interventions (--interventions, repeatable; one value may hold several specs
separated by ';' or spaces, since a spec itself may contain commas):
  none             the unchanged model (the baseline is always included, once)
  attn-sc:3        short-circuit the attention of block 3 (0-based)
  attn-sc:1,3      blocks 1 and 3 together;   attn-sc:20-23  blocks 20 to 23
  attn-sc:all      every block at once
  attn-sc:each     one run per block: the paper's sweep (default)
  attn-zero:…      zero the attention output instead (same block syntax)

Task options: --task-opt TASK.KEY=VALUE (repeatable); memscope tasks lists them.

Finished cells are kept in OUT/.memscope-state: if a run is interrupted (Ctrl-C,
a crashed plugin), re-run the same command to resume. Backend answers are cached
in --cache-dir, keyed by model content, backend, dtype, intervention and request,
so a repeated or extended run does not recompute them.

Exit status: 0 done, 1 failed, 2 bad flags or input, 130 interrupted.`,
	Example: `  memscope run
  memscope run --model ./pythia-160m --tasks memorization,lambada_openai,piqa \
      --task-opt memorization.data=pile_memorized.npy --interventions attn-sc:each --out results/160m
  memscope run --model A --model B --tasks arc_easy --interventions 'attn-sc:20-23;attn-zero:20-23' --limit 200
  memscope run --model EleutherAI/pythia-1.4b@step143000 --model final=EleutherAI/pythia-1.4b --tasks memorization \
      --task-opt memorization.data=pile_memorized.npy --task-opt memorization.preset=paper`,
	Args: noArgs,
	RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd, &runOpts) },
}

func init() {
	f := runCmd.Flags()
	o := &runOpts
	f.StringArrayVar(&o.models, "model", nil, "`MODEL`: a Hugging Face model folder (config.json, safetensors, tokenizer), or a hub name Org/name[@revision] found in the local Hugging Face cache (HF_HUB_CACHE, HF_HOME), either as NAME=MODEL to name it in the results; repeat for several models (default: the embedded memorizer model)")
	f.StringVar(&o.backend, "backend", "cpu", "backend plugin `NAME` (memscope backends lists them)")
	f.StringSliceVar(&o.tasks, "tasks", nil, "comma-separated task `NAMES` (memscope tasks lists them; default with the embedded model: memorization, heldout_perplexity and the five benchmarks)")
	f.StringArrayVar(&o.interventions, "interventions", nil, "intervention `SPECS`: repeat the flag or separate specs with ';' or spaces (default attn-sc:each; see above)")
	f.StringArrayVar(&o.taskOpts, "task-opt", nil, "task option `TASK.KEY=VALUE`, repeatable (e.g. memorization.prefix_len=32)")
	f.IntVar(&o.limit, "limit", 0, "evaluate at most `N` documents per task (0: all)")
	f.StringVar(&o.docs, "docs", "", "evaluate only these document `RANGES`, e.g. 60-119 or 0-9,20 (0-based, inclusive)")
	f.StringVar(&o.batchSize, "batch-size", "auto", "sequences per forward pass: `N`, or auto for the backend's default")
	f.StringVar(&o.dtype, "dtype", "", "compute `DTYPE` (float32, float16, bfloat16; default: the backend's)")
	f.IntVar(&o.device, "device", 0, "the GPU a GPU backend runs on (`N`, 0-based as CUDA numbers them; --backend cuda)")
	f.IntVar(&o.threads, "threads", 0, "compute threads of the backend (`N`; 0: all cores); for the cpu backend also OPENBLAS_NUM_THREADS and OMP_NUM_THREADS")
	f.Int64Var(&o.seed, "seed", 1234, "random `SEED` for tasks that sample (and bootstrap standard errors)")
	f.StringVar(&o.out, "out", "memscope-results", "results `DIR`: tables, figures, and the state that lets a re-run resume")
	f.StringVar(&o.cacheDir, "cache-dir", "", "cache `DIR` for backend answers, model hashes and the extracted embedded model (default: $"+runEnvCacheDir+" or the user cache dir + /memscope)")
	f.BoolVar(&o.noCache, "no-cache", false, "neither read nor write cached backend answers")
	f.StringArrayVar(&o.pluginDirs, "plugin-dir", nil, "look for plugins in `DIR` first (also $"+pluginhost.EnvPluginDir+"; then the memscope executable's folder, then $PATH)")
	f.StringVar(&o.progress, "progress", "auto", "progress display `MODE`: auto (bars on a terminal), bars, or lines")
	f.StringSliceVar(&o.ability, "ability", nil, "comma-separated `TASKS` whose main metric makes up the leaderboard's ability change (default: every non-memorization task; with the embedded model: heldout_perplexity)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "debug logging (plugins included)")
	f.SetNormalizeFunc(runNormalizeFlag)
	rootCmd.AddCommand(runCmd)
}

// noArgs refuses positional arguments as a usage error (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments (got %q); see %s --help", cmd.CommandPath(), strings.Join(args, " "), cmd.CommandPath())
	}
	return nil
}

// runNormalizeFlag accepts lm-evaluation-harness spellings: underscores
// (--batch_size, --output_path) and a few of its names.
func runNormalizeFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	name = strings.ReplaceAll(name, "_", "-")
	switch name {
	case "output-path":
		name = "out"
	case "intervention":
		name = "interventions"
	case "task":
		name = "tasks"
	}
	return pflag.NormalizedName(name)
}

// runPlan is a validated command line.
type runPlan struct {
	models      []plan.Model
	tasks       []string
	taskOpts    plan.TaskOptions
	specs       []intervention.Spec
	docs        []plugins.DocRange
	batchSize   int
	cacheDir    string
	backendPath string
	taskPaths   map[string]string
	embedded    *embedded.Memorizer
	ability     []string // tasks of the leaderboard's ability change
}

// runValidate checks every flag before any plugin starts; its errors are
// usage errors (exit 2).
func runValidate(o *runFlags) (*runPlan, error) {
	p := &runPlan{}
	var err error
	if p.tasks, err = plan.ParseTasks(o.tasks); err != nil {
		return nil, usageError{err}
	}
	// A missing model folder first: it decides which other flags are needed.
	if len(o.models) > 0 {
		if p.models, err = plan.Models(o.models); err != nil {
			return nil, usageError{err}
		}
	}
	if len(o.interventions) == 0 {
		o.interventions = []string{"attn-sc:each"}
	}
	if p.specs, err = plan.ParseInterventions(o.interventions); err != nil {
		return nil, usageError{err}
	}
	if p.docs, err = plan.ParseDocRanges(o.docs); err != nil {
		return nil, usageError{err}
	}
	if o.limit < 0 {
		return nil, usagef("--limit %d: give a number of documents (0 means all)", o.limit)
	}
	switch b := strings.ToLower(strings.TrimSpace(o.batchSize)); {
	case b == "auto" || b == "":
	default:
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 {
			return nil, usagef("--batch-size %q: give a positive number of sequences, or auto", o.batchSize)
		}
		p.batchSize = n
	}
	switch o.dtype {
	case "", "float32", "float16", "bfloat16":
	default:
		return nil, usagef("--dtype %q: use float32, float16 or bfloat16", o.dtype)
	}
	if o.threads < 0 {
		return nil, usagef("--threads %d: give a number of threads (0 means all cores)", o.threads)
	}
	if o.device < 0 {
		return nil, usagef("--device %d: give a GPU number (0 is the first)", o.device)
	}
	switch o.progress {
	case "auto", "bars", "lines":
	default:
		return nil, usagef("--progress %q: use auto, bars or lines", o.progress)
	}
	if strings.TrimSpace(o.backend) == "" {
		return nil, usagef("--backend is empty (memscope backends lists the installed ones)")
	}
	if len(o.models) == 0 && len(p.tasks) == 0 {
		p.tasks = runEmbeddedTasks
	}
	if len(o.models) == 0 && len(o.ability) == 0 && slices.Contains(p.tasks, "heldout_perplexity") {
		// The embedded model is too small for the benchmarks to move off
		// chance: its general ability is its held-out likelihood.
		o.ability = []string{"heldout_perplexity"}
	}
	for _, t := range o.ability {
		if !slices.Contains(p.tasks, t) {
			return nil, usagef("--ability %s: task %q is not among the tasks of this run (%s)", strings.Join(o.ability, ","), t, strings.Join(p.tasks, ","))
		}
	}
	p.ability = o.ability
	if len(p.tasks) == 0 {
		return nil, usagef("name the tasks to run with --tasks, e.g. --tasks memorization,lambada_openai (memscope tasks lists them)")
	}
	if p.taskOpts, err = plan.ParseTaskOptions(o.taskOpts, p.tasks); err != nil {
		return nil, usageError{err}
	}
	if strings.TrimSpace(o.out) == "" {
		return nil, usagef("--out is empty: give a folder for the results")
	}
	if st, err := os.Stat(o.out); err == nil && !st.IsDir() {
		return nil, usagef("--out %s is a file; give a folder for the results", o.out)
	}
	if p.cacheDir, err = runCacheDir(o.cacheDir); err != nil {
		return nil, usageError{err}
	}

	dirs := pluginhost.SearchDirs(o.pluginDirs)
	backends, err := pluginhost.Resolve(plugins.KindBackend, []string{o.backend}, dirs)
	if err != nil {
		return nil, usagef("--backend: %v", err)
	}
	p.backendPath = backends[o.backend]
	if p.taskPaths, err = pluginhost.Resolve(plugins.KindTask, p.tasks, dirs); err != nil {
		return nil, usagef("--tasks: %v", err)
	}
	return p, nil
}

func runCacheDir(flag string) (string, error) {
	dir := flag
	if dir == "" {
		dir = os.Getenv(runEnvCacheDir)
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache folder (%v); give one with --cache-dir", err)
		}
		dir = filepath.Join(base, "memscope")
	}
	return filepath.Abs(dir)
}

// runUseEmbedded selects the embedded model and points its default tasks
// at its data, unless the user set those options; a task given its own
// data gets none of the embedded data's settings.
func runUseEmbedded(p *runPlan) error {
	m, err := embedded.ExtractMemorizer(p.cacheDir)
	if err != nil {
		return err
	}
	p.embedded = &m
	p.models = []plan.Model{{Dir: m.ModelDir, Name: embedded.Name, Source: plan.SourceEmbedded}}
	defaults := map[string]map[string]string{
		"memorization":       {"data": m.Canaries, "prefix_len": "32", "suffix_len": "32", "group_by": "kind"},
		"heldout_perplexity": {"data": m.Heldout},
	}
	for _, t := range p.tasks {
		if _, own := p.taskOpts[t]["data"]; own {
			// The user's own data: the embedded data's settings
			// (group_by=kind, which its JSON lines have) are not theirs.
			continue
		}
		for k, v := range defaults[t] {
			if p.taskOpts[t] == nil {
				p.taskOpts[t] = map[string]string{}
			}
			if _, set := p.taskOpts[t][k]; !set {
				p.taskOpts[t][k] = v
			}
		}
	}
	return nil
}

func runRun(cmd *cobra.Command, o *runFlags) error {
	p, err := runValidate(o)
	if err != nil {
		return err
	}
	started := time.Now()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends memscope at once
	}()
	defer plugins.CleanupAll()

	mode := map[string]progress.Mode{"auto": progress.Auto, "bars": progress.Bars, "lines": progress.Lines}[o.progress]
	display := progress.New(ctx, os.Stderr, mode)
	defer display.Close()
	level := hclog.Info
	if o.verbose {
		level = hclog.Debug
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "memscope", Level: level, Output: display.Log(), DisableTime: !o.verbose})

	hasher := modelhash.New(filepath.Join(p.cacheDir, "modelhash.json"))
	hasher.OnHash = func(path string, size int64) {
		if size > 64<<20 {
			log.Info("hashing model file once (for the response cache)", "file", path, "size_mb", size>>20)
		}
	}
	if len(p.models) == 0 {
		if err := runUseEmbedded(p); err != nil {
			return err
		}
		// The weights' hash, as the tables and the leaderboard show it.
		hash, err := hasher.Hash(p.embedded.ModelDir)
		if err != nil {
			return err
		}
		display.Printf("no --model given: using the embedded memorizer model (%s, %s)", p.embedded.ModelDir, results.ShortHash(hash))
	}

	var store *cache.Store
	if !o.noCache {
		store, err = cache.Open(filepath.Join(p.cacheDir, "responses"), cache.Options{Warn: func(m string) { log.Warn(m) }})
		if err != nil {
			return err
		}
	}
	cfg := runner.Config{
		Models:        p.models,
		Backend:       o.backend,
		Interventions: p.specs,
		Limit:         o.limit,
		Docs:          p.docs,
		Seed:          o.seed,
		BatchSize:     p.batchSize,
		DType:         o.dtype,
		Threads:       o.threads,
		OutDir:        o.out,
		Info:          runInfo(o, p),
	}
	for _, t := range p.tasks {
		cfg.Tasks = append(cfg.Tasks, runner.TaskConfig{Name: t, Options: p.taskOpts[t]})
	}
	deps := runner.Deps{
		StartBackend: func(name string) (plugins.Backend, runner.Proc, error) {
			b, proc, err := pluginhost.StartBackend(p.backendPath, name, o.threads, log, pluginhost.DeviceEnv(name, o.device)...)
			if err != nil {
				return nil, nil, err
			}
			return b, proc, nil
		},
		StartTask: func(name string) (plugins.Task, runner.Proc, error) {
			t, proc, err := pluginhost.StartTask(p.taskPaths[name], log)
			if err != nil {
				return nil, nil, err
			}
			return t, proc, nil
		},
		Cache:   store,
		Hasher:  hasher,
		Display: display,
		Log:     log,
	}

	sum, err := runner.Run(ctx, cfg, deps)
	display.Close()
	if err != nil {
		err = runExplain(err, o.out)
		if ctx.Err() != nil {
			return interruptedError{err}
		}
		return err
	}
	cached := ""
	if sum.Cached > 0 {
		cached = fmt.Sprintf("; %d answered by the response cache", sum.Cached)
	}
	fmt.Fprintf(os.Stderr, "%d cells (%d computed, %d resumed%s) in %s → %s\n", sum.Cells, sum.Computed, sum.Resumed, cached,
		time.Since(started).Round(100*time.Millisecond), o.out)
	return runReport(os.Stdout, o.out, p.specs, p.ability, log)
}

// runExplain turns a failed run into what the user should know and do.
func runExplain(err error, out string) error {
	var ie *runner.InputError
	if errors.As(err, &ie) {
		return usageError{err}
	}
	var ce *runner.CellError
	if !errors.As(err, &ce) {
		return err
	}
	kept := fmt.Sprintf("%d of the %d cells planned so far finished and are kept in %s", ce.Finished, ce.Total, out)
	if ce.Finished == 0 {
		kept = "no cell had finished"
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%v; %s. Re-run the same command to resume", err, kept)
	case errors.Is(err, plugins.ErrPluginExited):
		return fmt.Errorf("%v\n%s. Re-run the same command to resume", err, kept)
	}
	return fmt.Errorf("%v\n%s; fix the problem and re-run the same command to resume", err, kept)
}

// runInfo is the run's provenance.
func runInfo(o *runFlags, p *runPlan) results.RunInfo {
	var opts []string
	for t, kv := range p.taskOpts {
		for k, v := range kv {
			opts = append(opts, t+"."+k+"="+v)
		}
	}
	sort.Strings(opts)
	specs := make([]string, len(p.specs))
	for i, s := range p.specs {
		specs[i] = s.String()
	}
	extra := map[string]string{
		"backend":        o.backend,
		"dtype":          o.dtype,
		"threads":        strconv.Itoa(o.threads),
		"tasks":          strings.Join(p.tasks, ","),
		"interventions":  strings.Join(specs, ";"),
		"task_options":   strings.Join(opts, ";"),
		"go_version":     runtime.Version(),
		"response_cache": map[bool]string{true: "off", false: "on"}[o.noCache],
	}
	if len(p.ability) > 0 {
		extra[runInfoAbility] = strings.Join(p.ability, ",")
	}
	var sources []results.ModelSource
	for _, m := range p.models {
		sources = append(sources, m.Provenance())
	}
	extra[results.ExtraModels] = results.EncodeModelSources(sources)
	return results.RunInfo{
		HarnessVersion: version,
		GitCommit:      provenance.GitCommit(gitCommit),
		Machine:        provenance.Machine(),
		BatchSize:      p.batchSize,
		Seed:           o.seed,
		Limit:          o.limit,
		Docs:           plan.FormatDocRanges(p.docs),
		Extra:          extra,
	}
}

// runReport writes the figures of a finished run into OUT/figures and
// prints its leaderboard on w. A run the figures or the leaderboard cannot
// use (e.g. no single-block interventions) gets a note, not an error: its
// tables are written.
func runReport(w io.Writer, out string, specs []intervention.Spec, ability []string, log hclog.Logger) error {
	run, err := results.ReadSummary(out)
	if err != nil {
		return err
	}
	figDir := filepath.Join(out, "figures")
	files, err := results.Plot(run, figDir, results.LeaderboardOptions{Kind: runLeaderboardKind(specs), AbilityTasks: ability})
	runPruneFigures(figDir, files, log)
	if err != nil && runFileSystemError(err) {
		// A full disk or a read-only folder is a failure, not a run
		// without figures (it exited 0 with an INFO line).
		return fmt.Errorf("draw the figures: %w; the tables are written: free space (or make %s writable) and run memscope results plot %s", err, figDir, out)
	}
	if err != nil {
		log.Info("no figures for this run", "reason", err)
	} else {
		fmt.Fprintf(os.Stderr, "%s → %s\n", plural(len(files), "figure"), figDir)
	}
	lb, err := results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{Kind: runLeaderboardKind(specs), AbilityTasks: ability})
	if err != nil {
		log.Info("no leaderboard for this run", "reason", err)
		return nil
	}
	fmt.Fprintln(w)
	return lb.Render(w, results.FormatText)
}

// runFileSystemError says whether err comes from the file system (a full
// disk, a read-only or missing folder), not from what the run holds.
func runFileSystemError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se)
}

// runFigureNames matches the files results.Plot writes.
var runFigureNames = []string{"memorization_vs_*.png", "per_block.png", "accuracy_drop_by_category.png"}

// runPruneFigures removes the figures an earlier run into the same folder
// drew and this one did not (a task or model no longer in the run), so
// OUT/figures shows only what the tables hold. Other files are left alone.
func runPruneFigures(dir string, keep []string, log hclog.Logger) {
	for _, pattern := range runFigureNames {
		old, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range old {
			if !slices.Contains(keep, f) {
				if err := os.Remove(f); err != nil {
					log.Warn("could not remove a figure of an earlier run", "file", f, "error", err)
				}
			}
		}
	}
}

// plural is "1 figure", "3 figures".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// runLeaderboardKind is the intervention kind the leaderboard compares:
// the paper's short-circuit when the run has it, else the first kind run.
func runLeaderboardKind(specs []intervention.Spec) intervention.Kind {
	for _, s := range specs {
		if s.Kind == intervention.AttnShortCircuit {
			return intervention.AttnShortCircuit
		}
	}
	for _, s := range specs {
		if s.Kind != intervention.None {
			return s.Kind
		}
	}
	return intervention.AttnShortCircuit
}
