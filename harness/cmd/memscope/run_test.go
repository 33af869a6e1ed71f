package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/harness/internal/testplugins"
	"github.com/memscope/memscope/harness/runner"
	"github.com/memscope/memscope/results"
)

// The CLI tests run the real memscope binary with the fake plugins as
// subprocesses, built once per test binary.
var (
	cliOnce sync.Once
	cliDir  string // holds memscope and the fake plugins
	cliErr  error
)

func cliBins(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		if cliDir, cliErr = testplugins.ScratchDir("cli-bin"); cliErr != nil {
			return
		}
		bins := map[string]string{"memscope": "github.com/memscope/memscope/harness/cmd/memscope"}
		for k, v := range testplugins.Fakes {
			bins[k] = v
		}
		cliErr = testplugins.Build(cliDir, bins)
	})
	require.NoError(t, cliErr)
	return cliDir
}

type cliResult struct {
	code           int
	stdout, stderr string
}

// fakeModel writes a model folder the fake backend loads.
func fakeModel(t *testing.T, layers int) string {
	dir := filepath.Join(t.TempDir(), "fm")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), fmt.Appendf(nil, `{"num_hidden_layers": %d}`, layers), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("w"), 0o644))
	return dir
}

// memscopeCmd prepares memscope with args; the plugin search path is the
// bin folder only ($PATH emptied of memscope plugins by --plugin-dir
// coming first, and the executable's folder being the same).
func memscopeCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	return memscopeCmdIn(t, cliBins(t), env, args...)
}

// memscopeCmdIn runs the memscope built into bin, next to its plugins.
func memscopeCmdIn(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, "memscope"), args...)
	cmd.Env = append(os.Environ(), "MEMSCOPE_CACHE_DIR="+filepath.Join(t.TempDir(), "cache"), "MEMSCOPE_PLUGIN_DIR=")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func memscope(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, memscopeCmd(t, env, args...))
}

func runCLI(t *testing.T, cmd *exec.Cmd) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return cliResult{code, out.String(), errb.String()}
}

func tableRows(t *testing.T, dir string) string {
	t.Helper()
	run, err := results.Read(dir)
	require.NoError(t, err)
	var b strings.Builder
	for _, m := range run.Metrics {
		fmt.Fprintf(&b, "%+v\n", m)
	}
	for _, d := range run.Docs {
		fmt.Fprintf(&b, "%+v\n", d)
	}
	for _, r := range run.Requests {
		fmt.Fprintf(&b, "%+v\n", r)
	}
	return b.String()
}

func TestCLIRunWithFakePlugins(t *testing.T) {
	model := fakeModel(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	starts := filepath.Join(t.TempDir(), "starts.log")
	r := memscope(t, []string{"MEMSCOPE_FAKE_START_LOG=" + starts}, "run", "--backend", "fake", "--model", model,
		"--tasks", "fakemc,fakegen", "--interventions", "attn-sc:each", "--out", out, "--task_opt", "fakemc.docs=5", "--batch_size", "4")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "[8/8] attn-sc:2 · fakegen: exact_match=1.0000")
	assert.Contains(t, r.stderr, "8 cells (8 computed, 0 resumed)")
	run, err := results.Read(out)
	require.NoError(t, err)
	assert.Len(t, run.Metrics, 8)
	assert.Len(t, run.Docs, 4*(5+10))
	assert.Equal(t, 4, run.Info.BatchSize)
	assert.Equal(t, int64(1234), run.Info.Seed)
	assert.NotEmpty(t, run.Info.Machine)
	assert.NotEmpty(t, run.Info.GitCommit)
	assert.Equal(t, "fakemc.docs=5", run.Info.Extra["task_options"])
	assert.Len(t, run.Info.TaskConfigHashes, 2)
	data, err := os.ReadFile(starts)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(data), "started backend fake"), "one backend per model")
	assert.Equal(t, 1, strings.Count(string(data), "started task fakemc"), "one process per task")

	// The same command again resumes every cell and writes the same tables.
	before := tableRows(t, out)
	r = memscope(t, nil, "run", "--backend", "fake", "--model", model,
		"--tasks", "fakemc,fakegen", "--interventions", "attn-sc:each", "--out", out, "--task_opt", "fakemc.docs=5", "--batch_size", "4")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "8 cells (0 computed, 8 resumed)")
	assert.Equal(t, before, tableRows(t, out))
}

// A run into a new --out that the response cache answers whole says so.
func TestCLISaysWhatTheCacheAnswered(t *testing.T) {
	model := fakeModel(t, 3)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	args := func(out string) []string {
		return []string{"run", "--backend", "fake", "--model", model, "--tasks", "fakemc", "--interventions", "attn-sc:each",
			"--out", out, "--cache-dir", cacheDir, "--progress", "lines"}
	}
	r := memscope(t, nil, args(filepath.Join(t.TempDir(), "a"))...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "4 cells (4 computed, 0 resumed) in ")
	r = memscope(t, nil, args(filepath.Join(t.TempDir(), "b"))...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "4 cells (4 computed, 0 resumed; 4 answered by the response cache) in ")
	assert.Contains(t, r.stderr, "[4/4] attn-sc:2 · fakemc: acc=")
	assert.Regexp(t, `\[4/4\] attn-sc:2 · fakemc: .* \(from the cache\)`, r.stderr)
}

func TestCLICrashedPluginThenResume(t *testing.T) {
	model := fakeModel(t, 3)
	args := func(out string) []string {
		return []string{"run", "--backend", "fake", "--model", model, "--tasks", "fakemc,fakegen", "--interventions", "attn-sc:each", "--out", out, "--no-cache"}
	}
	ref := filepath.Join(t.TempDir(), "ref")
	r := memscope(t, nil, args(ref)...)
	require.Equal(t, 0, r.code, r.stderr)

	out := filepath.Join(t.TempDir(), "out")
	r = memscope(t, []string{"MEMSCOPE_FAKE_CRASH_AT_CALL=4"}, args(out)...)
	require.Equal(t, 1, r.code, r.stderr)
	assert.Regexp(t, `memscope: plugin backend fake crashed while running model fm, intervention attn-sc:[0-9], task fake(mc|gen): `, r.stderr)
	assert.Contains(t, r.stderr, "3 of the 8 cells planned so far finished and are kept in "+out+". Re-run the same command to resume")
	assert.NoFileExists(t, filepath.Join(out, results.MetricsFile))

	r = memscope(t, nil, args(out)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "8 cells (5 computed, 3 resumed)")
	assert.Contains(t, r.stderr, "(resumed)")
	assert.Equal(t, tableRows(t, ref), tableRows(t, out))
}

func TestCLIInterruptKeepsFinishedCells(t *testing.T) {
	model := fakeModel(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--backend", "fake", "--model", model, "--tasks", "fakemc", "--interventions", "attn-sc:each", "--out", out, "--progress", "lines"}
	cmd := memscopeCmd(t, []string{"MEMSCOPE_FAKE_DELAY=20ms"}, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "[1/3]") {
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, strings.Join(lines, "\n"))
	assert.Equal(t, 130, ee.ExitCode(), "interrupted, as a shell reports SIGINT")
	all := strings.Join(lines, "\n")
	assert.Contains(t, all, "interrupted while running model fm, intervention attn-sc:0, task fakemc; 1 of the 3 cells")
	assert.Contains(t, all, "Re-run the same command to resume")
	assert.NoFileExists(t, filepath.Join(out, results.MetricsFile))
	assert.DirExists(t, filepath.Join(out, runner.StateDir))

	r := memscope(t, nil, args...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "3 cells (2 computed, 1 resumed)")
}

func TestCLIUsageErrors(t *testing.T) {
	model := fakeModel(t, 2)
	starts := filepath.Join(t.TempDir(), "starts.log")
	base := []string{"run", "--backend", "fake", "--model", model, "--out", t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tasks", "fakemc", "--interventions", "attn-xx:3"}, `--interventions: intervention spec "attn-xx:3": unknown kind`},
		{[]string{"--tasks", "fakemc", "--interventions", "attn-sc"}, "say which blocks"},
		{[]string{"--tasks", "fakemc", "--interventions", "attn-sc:4-2"}, "runs backwards"},
		{[]string{"--tasks", "fakemc", "--interventions", ""}, "--interventions \"\": empty"},
		{[]string{"--tasks", "fakemc", "--docs", "9-3"}, `--docs "9-3": range "9-3" runs backwards`},
		{[]string{"--tasks", "fakemc", "--docs", "x"}, `--docs "x": "x" is not a document index`},
		{[]string{"--tasks", "fakemc", "--limit", "-1"}, "--limit -1"},
		{[]string{"--tasks", "fakemc", "--limit", "ten"}, `invalid argument "ten" for "--limit"`},
		{[]string{"--tasks", "fakemc", "--batch-size", "0"}, `--batch-size "0"`},
		{[]string{"--tasks", "fakemc", "--dtype", "int8"}, `--dtype "int8"`},
		{[]string{"--tasks", "fakemc", "--threads", "-2"}, "--threads -2"},
		{[]string{"--tasks", "fakemc", "--task-opt", "fakemc.docs"}, "write TASK.KEY=VALUE"},
		{[]string{"--tasks", "fakemc", "--task-opt", "docs=3"}, "the left side must be TASK.KEY"},
		{[]string{"--tasks", "fakemc", "--task-opt", "piqa.x=1"}, `task "piqa" is not in --tasks (fakemc)`},
		{[]string{"--tasks", "fakemc", "--model", "/nonexistent/model"}, "--model /nonexistent/model: no such folder"},
		{[]string{"--model", "/nonexistent/model"}, "--model /nonexistent/model: no such folder"},
		{[]string{"--tasks", "nosuchtask"}, `--tasks: unknown task "nosuchtask" (installed: fakegen, fakemc)`},
		{[]string{"--tasks", "fakemc", "--backend", "gpu9"}, `--backend: unknown backend "gpu9" (installed: fake)`},
		{[]string{"--tasks", "fakemc", "--progress", "fancy"}, `--progress "fancy"`},
		{[]string{"--tasks", "fakemc", "--out", ""}, "--out is empty: give a folder for the results"},
		{[]string{"--tasks", "fakemc", "--out", "  "}, "--out is empty"},
		{[]string{"--tasks", "fakemc", "--ability", "fakegen"}, `--ability fakegen: task "fakegen" is not among the tasks of this run (fakemc)`},
		{[]string{"--tasks", "fakemc", "extra-arg"}, `memscope run takes no arguments (got "extra-arg")`},
		{[]string{"--tasks", "fakemc", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{}, "name the tasks to run with --tasks"},
	} {
		r := memscope(t, []string{"MEMSCOPE_FAKE_START_LOG=" + starts}, append(append([]string{}, base...), tc.args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
		assert.NotContains(t, r.stderr, "panic")
	}
	assert.NoFileExists(t, starts, "a plugin started before the flags were checked")

	// Errors found once plugins describe themselves are usage errors too.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tasks", "fakemc", "--task-opt", "fakemc.bogus=1"}, "--task-opt: task fakemc has no option bogus (its options are docs, choices; see memscope tasks)"},
		{[]string{"--tasks", "fakemc", "--interventions", "attn-sc:7"}, "--interventions: intervention attn-sc:7: block 7 does not exist (the model has blocks 0-1)"},
		{[]string{"--tasks", "fakemc", "--dtype", "bfloat16"}, "--dtype bfloat16: backend fake supports float32, float16"},
		{[]string{"--tasks", "fakemc", "--task-opt", "fakemc.docs=x"}, `task fakemc: Requests: option docs="x"`},
		{[]string{"--tasks", "fakemc", "--docs", "500-600"}, "task fakemc: no requests"},
	} {
		r := memscope(t, nil, append(append([]string{}, base...), tc.args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", tc.args, r.stderr)
		assert.Contains(t, r.stderr, tc.want, "%v", tc.args)
	}
}

func TestCLITasksAndBackends(t *testing.T) {
	r := memscope(t, nil, "tasks")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `fakegen\s+1\s+memorization\s+generate_tokens\s+exact_match↑`, r.stdout)
	assert.Regexp(t, `fakemc\s+1\s+reasoning\s+multiple_choice\s+acc↑`, r.stdout)
	assert.Contains(t, r.stdout, "fakemc.choices  (default 3)   choices per document")

	r = memscope(t, nil, "backends")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `fake\s+1\s+GPTNeoXForCausalLM\s+float32,float16\s+attn-short-circuit,attn-zero`, r.stdout)

	r = memscope(t, nil, "tasks", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &listed))
	require.NotEmpty(t, listed)
	for _, task := range listed {
		for k := range task {
			assert.Regexp(t, `^[a-z_]+$`, k, "JSON keys are snake_case, like the results columns")
		}
	}
	assert.Contains(t, r.stdout, `"name": "fakemc"`)
	r = memscope(t, nil, "backends", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"intervention_kinds": [`)

	// A plugin folder with nothing in it, and the memscope binary copied
	// away from its plugins: nothing found, with advice.
	lonely := t.TempDir()
	data, err := os.ReadFile(filepath.Join(cliBins(t), "memscope"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(lonely, "memscope"), data, 0o755))
	cmd := exec.Command(filepath.Join(lonely, "memscope"), "backends")
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin", "MEMSCOPE_PLUGIN_DIR=")
	outb, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(outb), "no backend plugins found")
	assert.Contains(t, string(outb), "go tool task build")
}

// Without --model, the embedded model's settings for its own data
// (memorization.group_by=kind) leaked into a user's data: --task-opt
// memorization.data=my.npy failed with "group_by needs JSON-lines data".
func TestEmbeddedDefaultsOnlyForEmbeddedData(t *testing.T) {
	p := &runPlan{tasks: []string{"memorization", "heldout_perplexity"}, cacheDir: t.TempDir(),
		taskOpts: map[string]map[string]string{"memorization": {"data": "my.npy"}}}
	require.NoError(t, runUseEmbedded(p))
	assert.Equal(t, map[string]string{"data": "my.npy"}, p.taskOpts["memorization"], "the user's data, the task's own defaults")
	assert.Equal(t, p.embedded.Heldout, p.taskOpts["heldout_perplexity"]["data"])

	p = &runPlan{tasks: []string{"memorization"}, cacheDir: t.TempDir(), taskOpts: map[string]map[string]string{"memorization": {"prefix_len": "16"}}}
	require.NoError(t, runUseEmbedded(p))
	assert.Equal(t, map[string]string{"data": p.embedded.Canaries, "prefix_len": "16", "suffix_len": "32", "group_by": "kind"}, p.taskOpts["memorization"])
}
