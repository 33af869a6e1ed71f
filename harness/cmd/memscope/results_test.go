package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

// runResults runs `memscope results ARGS` in-process.
func runResults(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newResultsCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// syntheticRuns writes two runs (one model each) under root/sweeps.
func syntheticRuns(t *testing.T) (root, runA string) {
	t.Helper()
	root = t.TempDir()
	runA = filepath.Join(root, "sweeps", "pythia")
	require.NoError(t, resultstest.Write(runA, "run-a", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	require.NoError(t, resultstest.Write(filepath.Join(root, "sweeps", "neo"), "run-b", resultstest.DefaultModels[1:], resultstest.DefaultTasks))
	return root, runA
}

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

func TestResultsLeaderboardCommand(t *testing.T) {
	root, _ := syntheticRuns(t)
	out, err := runResults(t, "leaderboard", root)
	require.NoError(t, err)
	assert.Contains(t, out, "memscope leaderboard: attention short-circuit (attn-sc), one block at a time, 2 models")
	assert.Contains(t, out, "pythia-tiny (sha256:pythia-t, cpu, float32; run run-a)")
	assert.Contains(t, out, "gptneo-tiny (sha256:gptneo-t, cpu, float32; run run-b)")
	assert.Regexp(t, `1  pythia-tiny\s+sha256:pythia-t\s+0-5\s+0\.450\s+5\s+0\.068\s+-85\.0%\*`, out)

	out, err = runResults(t, "leaderboard", root, "--format", "json")
	require.NoError(t, err)
	var lb map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &lb))
	assert.Len(t, lb["models"], 2)

	path := filepath.Join(t.TempDir(), "lb.md")
	out, err = runResults(t, "leaderboard", root, "--format", "markdown", "--out", path, "--max-ability-loss", "1")
	require.NoError(t, err)
	assert.Empty(t, out)
	md, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(md), "| # | model |")
	assert.Contains(t, string(md), "losing at most 1.0% significant ability")
}

func TestResultsExportCommand(t *testing.T) {
	_, run := syntheticRuns(t)
	out, err := runResults(t, "export", run, "--table", "metrics", "--format", "csv")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, "run_id,model,model_hash,backend,dtype,intervention,intervention_kind,blocks,task,task_version,task_category,metric,value,stderr,n,higher_is_better", lines[0])
	assert.Len(t, lines, 1+7*9, "a header and 9 metrics for each of 7 cells per task set")

	out, err = runResults(t, "export", run, "--table", "requests")
	require.NoError(t, err)
	first := strings.SplitN(out, "\n", 2)[0]
	var row map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &row), "jsonl is the default")
	assert.Equal(t, "generate_tokens", row["request_type"])

	dir := t.TempDir()
	pq := filepath.Join(dir, "docs.parquet")
	_, err = runResults(t, "export", run, "--table", "docs", "--out", pq)
	require.NoError(t, err, "the format follows the .parquet extension")
	data, err := os.ReadFile(pq)
	require.NoError(t, err)
	assert.Equal(t, "PAR1", string(data[:4]))
}

func TestResultsPlotAndInfoCommands(t *testing.T) {
	_, run := syntheticRuns(t)
	out, err := runResults(t, "plot", run)
	require.NoError(t, err)
	paths := strings.Fields(out)
	require.Len(t, paths, 6, "3 tasks + mean ability, per-block, category")
	for _, p := range paths {
		assert.Equal(t, filepath.Join(run, "figures"), filepath.Dir(p))
		f, err := os.Open(p)
		require.NoError(t, err)
		_, err = png.Decode(f)
		f.Close()
		require.NoError(t, err, p)
	}
	other := filepath.Join(t.TempDir(), "figs")
	out, err = runResults(t, "plot", run, "--out", other)
	require.NoError(t, err)
	assert.Contains(t, out, filepath.Join(other, "per_block.png"))

	out, err = runResults(t, "info", run)
	require.NoError(t, err)
	assert.Contains(t, out, "run                 run-a")
	assert.Contains(t, out, "model               pythia-tiny (sha256:pythia-t)\n")
	assert.Contains(t, out, "measured cells      7 interventions (baseline included) × 4 tasks × 1 model\n")
	assert.Contains(t, out, "requests table")
}

// writeRunWithAbility writes a synthetic run whose provenance says it was
// made with --ability tasks.
func writeRunWithAbility(t *testing.T, dir, runID, tasks string) {
	t.Helper()
	info := resultstest.Info(runID)
	info.Extra = map[string]string{runInfoAbility: tasks}
	w, err := results.Create(dir, info)
	require.NoError(t, err)
	for _, c := range resultstest.Cells(resultstest.DefaultModels[:1], resultstest.DefaultTasks) {
		require.NoError(t, w.Add(c))
	}
	require.NoError(t, w.Close())
}

func TestResultsUseTheRunsAbility(t *testing.T) {
	// memscope run keeps its --ability (with the embedded model:
	// heldout_perplexity) in the run's provenance.
	info := runInfo(&runFlags{}, &runPlan{ability: []string{"heldout_perplexity"}})
	assert.Equal(t, "heldout_perplexity", info.Extra[runInfoAbility])

	root := t.TempDir()
	run := filepath.Join(root, "a")
	writeRunWithAbility(t, run, "run-a", "heldout_perplexity")
	out, err := runResults(t, "leaderboard", run)
	require.NoError(t, err)
	assert.Contains(t, out, "ability Δ: mean relative change of the main metric of heldout_perplexity vs the baseline")
	out, err = runResults(t, "leaderboard", run, "--ability", "piqa")
	require.NoError(t, err)
	assert.Contains(t, out, "mean relative change of the main metric of piqa vs")

	out, err = runResults(t, "plot", run)
	require.NoError(t, err)
	assert.Contains(t, out, "memorization_vs_heldout_perplexity_")
	assert.NotContains(t, out, "memorization_vs_ability_", "one ability task: no mean over several")

	// Runs that disagree fall back to every non-memorization task.
	writeRunWithAbility(t, filepath.Join(root, "b"), "run-b", "piqa")
	out, err = runResults(t, "leaderboard", root)
	require.NoError(t, err)
	assert.Contains(t, out, "mean relative change of each task's main metric vs")
}

func TestResultsCommandErrors(t *testing.T) {
	_, run := syntheticRuns(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		args  []string
		usage bool
		msg   string
	}{
		{[]string{"leaderboard"}, true, "give at least one run directory"},
		{[]string{"leaderboard", empty}, false, "no memscope results in " + empty + " (expected metrics.arrow; run memscope run --out " + empty + " first)"},
		{[]string{"leaderboard", run, "--format", "html"}, true, `--format "html" is not one of text, markdown, csv, json`},
		{[]string{"leaderboard", run, "--intervention-kind", "mlp-zero"}, true, "attn-sc, attn-zero"},
		{[]string{"leaderboard", run, "--max-ability-loss", "0"}, true, "percentage"},
		{[]string{"leaderboard", run, "--intervention-kind", "attn-zero"}, true, "--intervention-kind attn-zero: these runs have no results with a single block under attn-zero"},
		{[]string{"export", run, "--table", "cells"}, true, `--table "cells" is not one of metrics, docs, requests`},
		{[]string{"export", run, "--format", "xlsx"}, true, `--format "xlsx" is not one of jsonl, csv, parquet`},
		{[]string{"export", run, "--format", "parquet"}, true, "give --out FILE.parquet"},
		{[]string{"export", run, "--out", filepath.Join(empty, "metrics.xlsx")}, true, ".xlsx is not an extension memscope knows (.jsonl, .csv, .parquet); add --format"},
		{[]string{"export"}, true, "exactly one run directory"},
		{[]string{"export", empty}, false, "no memscope results in " + empty},
		{[]string{"export", run, "--bogus"}, true, "unknown flag: --bogus"},
		{[]string{"plot", empty}, false, "no memscope results in " + empty},
		{[]string{"plot"}, true, "exactly one run directory"},
		{[]string{"info", empty}, false, "no memscope results"},
		{[]string{"frobnicate"}, true, `unknown results command "frobnicate"`},
	} {
		_, err := runResults(t, tc.args...)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.msg, tc.args)
		assert.Equal(t, tc.usage, isUsage(err), "usage error (exit 2) for %v: %v", tc.args, err)
	}
	_, err := os.Stat(filepath.Join(empty, "figures"))
	assert.True(t, os.IsNotExist(err), "a failed plot leaves no folder")
}

func TestResultsExportCLIExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the memscope binary")
	}
	_, run := syntheticRuns(t)
	res := memscope(t, nil, "results", "export", run, "--table", "nope")
	assert.Equal(t, 2, res.code, res.stderr)
	assert.Contains(t, res.stderr, `memscope: --table "nope" is not one of metrics, docs, requests`)
	res = memscope(t, nil, "results", "leaderboard", t.TempDir())
	assert.Equal(t, 1, res.code, res.stderr)
	assert.Contains(t, res.stderr, "no memscope results in")
	res = memscope(t, nil, "results", "export", run, "--format", "csv")
	assert.Equal(t, 0, res.code, res.stderr)
	assert.True(t, strings.HasPrefix(res.stdout, "run_id,model,"))
}

func TestRunReportRemovesFiguresOfAnEarlierRun(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, resultstest.Write(out, "run-a", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	log := hclog.NewNullLogger()
	var w bytes.Buffer
	require.NoError(t, runReport(&w, out, nil, nil, log))
	piqa := filepath.Join(out, "figures", "memorization_vs_piqa_pythia-tiny.png")
	require.FileExists(t, piqa)
	mine := filepath.Join(out, "figures", "notes.txt")
	require.NoError(t, os.WriteFile(mine, []byte("mine"), 0o644))

	// The same folder run again without piqa.
	require.NoError(t, resultstest.Write(out, "run-b", resultstest.DefaultModels[:1], resultstest.DefaultTasks[:3]))
	require.NoError(t, runReport(&w, out, nil, nil, log))
	assert.NoFileExists(t, piqa, "a figure of a task the tables no longer hold")
	assert.FileExists(t, filepath.Join(out, "figures", "memorization_vs_lambada_openai_pythia-tiny.png"))
	assert.FileExists(t, mine, "not a figure of memscope's")

	// A run with nothing to draw (no single-block results) leaves no
	// figures of the earlier run.
	baselineOnly := []resultstest.Model{{Name: "pythia-tiny", Blocks: 0, Strength: 0.9, Ability: 0.8}}
	require.NoError(t, resultstest.Write(out, "run-c", baselineOnly, resultstest.DefaultTasks))
	require.NoError(t, runReport(&w, out, nil, nil, log))
	pngs, err := filepath.Glob(filepath.Join(out, "figures", "*.png"))
	require.NoError(t, err)
	assert.Empty(t, pngs)
}

// TestEveryFlagNamesItsValue keeps --help readable: a flag that takes a
// value says what it is (--out FILE), never just its Go type (--out string).
func TestEveryFlagNamesItsValue(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "bool" {
				return
			}
			name, _ := pflag.UnquoteUsage(f)
			assert.NotEqual(t, strings.ToLower(name), name, "%s --%s shows %q for its value", c.CommandPath(), f.Name, name)
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd)
}

// `results info` on a run whose docs.arrow was truncated (a full disk, a
// copy cut short) printed the provenance and exited 0 without a word.
func TestResultsInfoFlagsDamagedTables(t *testing.T) {
	_, run := syntheticRuns(t)
	docs := filepath.Join(run, results.DocsFile)
	b, err := os.ReadFile(docs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(docs, b[:len(b)/2], 0o644))
	out, err := runResults(t, "info", run)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "damaged run: read "+docs+": ")
	assert.Contains(t, err.Error(), "(not an Arrow IPC file, or damaged)")
	assert.False(t, isUsage(err))
	assert.Contains(t, out, "run                 run-a", "what can be read is still shown")

	require.NoError(t, os.Remove(docs))
	_, err = runResults(t, "info", run)
	assert.ErrorContains(t, err, docs+" is missing: the run in "+run+" is incomplete")
}

func TestResultsSchema(t *testing.T) {
	res := memscope(t, nil, "results", "schema")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "format version 2")
	assert.Contains(t, res.stdout, "blocks  list<int32>, not null")
	assert.Contains(t, res.stdout, "loglikelihood  float64, nullable")

	res = memscope(t, nil, "results", "schema", "--format", "markdown")
	require.Equal(t, 0, res.code, res.stderr)
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "results-schema.md"))
	require.NoError(t, err)
	assert.Equal(t, string(doc), res.stdout, "docs/results-schema.md is this command's output")

	res = memscope(t, nil, "results", "schema", "--format", "yaml")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, `--format "yaml" is not one of text, markdown, json`)
}
