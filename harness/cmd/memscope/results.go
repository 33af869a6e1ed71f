package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/results"
)

func init() { rootCmd.AddCommand(newResultsCmd()) }

func newResultsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "results",
		Short: "Compare, export and plot the tables that memscope run wrote",
		Long: `results works on run directories: the folders memscope run --out writes, holding
metrics.arrow, docs.arrow, requests.arrow and comparisons.arrow (Apache Arrow IPC files,
zstd-compressed).

  leaderboard  compare models block by block across one or more runs
  compare      paired significance of each configuration's change (comparisons.arrow)
  report       the leaderboard, intervals and figures as one self-contained HTML page
  export       write one table as JSON lines, CSV or Parquet
  plot         draw the paper's figures as PNG files
  info         show a run's provenance and table sizes
  diff         check that two runs' tables are the same, row for row
  schema       list every table's columns: Arrow type, nullability, meaning`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown results command %q (use leaderboard, compare, report, export, plot, info, diff or schema)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	cmd.AddCommand(newLeaderboardCmd(), newCompareCmd(), newReportCmd(), newExportCmd(), newPlotCmd(), newInfoCmd(), newDiffCmd(), newSchemaCmd())
	return cmd
}

// oneOf checks a flag value against its choices.
func resultsOneOf(flag, value string, choices []string) error {
	for _, c := range choices {
		if value == c {
			return nil
		}
	}
	return usagef("--%s %q is not one of %s", flag, value, strings.Join(choices, ", "))
}

// writeOutput writes through fill to the file out (atomically) or, when
// out is "", to stdout.
func resultsWriteOutput(cmd *cobra.Command, out string, fill func(w io.Writer) error) error {
	if out == "" {
		return fill(cmd.OutOrStdout())
	}
	return atomicfile.Write(out, 0o644, fill)
}

var resultsLeaderboardKinds = map[string]intervention.Kind{
	"attn-sc":            intervention.AttnShortCircuit,
	"attn-short-circuit": intervention.AttnShortCircuit,
	"attn-zero":          intervention.AttnZero,
}

func newLeaderboardCmd() *cobra.Command {
	var format, kind, out string
	var maxLoss float64
	var ability []string
	cmd := &cobra.Command{
		Use:   "leaderboard DIR...",
		Short: "Compare models block by block: memorization removed vs ability lost",
		Long: `leaderboard reads every run under the given directories (each a run directory or a
folder searched recursively for metrics.arrow) and compares the models side by side.

For each model it shows the baseline, each block bypassed alone (attention
short-circuited), and what the bypass changes: the memorization metrics of the
memorization task, and each other task's main metric (acc for benchmarks, NLL per
token for held-out perplexity). The summary ranks models by how much memorization
their best block removes, the best block being the one that removes the most while
losing at most --max-ability-loss percent of ability (mean relative change over the
ability tasks). Where runs overlap, the newest run's scores are used.`,
		Example: `  memscope results leaderboard runs/
  memscope results leaderboard runs/pythia-410m runs/gpt-neo-125m --format markdown
  memscope results leaderboard runs/ --format csv --out leaderboard.csv`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give at least one run directory (or a folder of them), e.g. memscope results leaderboard runs/")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resultsOneOf("format", format, results.LeaderboardFormats); err != nil {
				return err
			}
			if !cmd.Flags().Changed("ability") {
				ability = resultsRunAbility(args)
			}
			opt := results.LeaderboardOptions{MaxAbilityLoss: maxLoss / 100, AbilityTasks: ability}
			if kind != "" {
				k, ok := resultsLeaderboardKinds[kind]
				if !ok {
					return usagef("--intervention-kind %q is not one of attn-sc, attn-zero", kind)
				}
				opt.Kind = k
			}
			if maxLoss <= 0 || maxLoss >= 100 {
				return usagef("--max-ability-loss %v: give a percentage between 0 and 100, e.g. 5", maxLoss)
			}
			lb, err := results.LoadLeaderboard(args, opt)
			if err != nil {
				return err
			}
			if kind != "" && !resultsHaveBlocks(lb) {
				return usagef("--intervention-kind %s: these runs have no results with a single block under %s; "+
					"run it with memscope run --interventions %s:each, or leave out --intervention-kind", kind, opt.Kind, kind)
			}
			if err := checkAbilityTasks(lb, ability); err != nil {
				return err
			}
			return resultsWriteOutput(cmd, out, func(w io.Writer) error { return lb.Render(w, format) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", results.FormatText, "output `FORMAT`: "+strings.Join(results.LeaderboardFormats, ", "))
	f.StringVar(&kind, "intervention-kind", "", "intervention `KIND` compared with the baseline, one block at a time: attn-sc or attn-zero (default: attn-sc when the runs have it)")
	f.Float64Var(&maxLoss, "max-ability-loss", 100*results.DefaultMaxAbilityLoss, "ability loss in `PERCENT` the best block may cost")
	f.StringSliceVar(&ability, "ability", nil, "comma-separated `TASKS` whose main metric makes up the ability change (default: the runs' own --ability when they agree, else every non-memorization task); leave out benchmarks a model only guesses at")
	f.StringVarP(&out, "out", "o", "", "write to this `FILE` (atomically) instead of stdout")
	return cmd
}

// resultsHaveBlocks reports whether any model of the leaderboard has a
// single-block result to compare with its baseline.
func resultsHaveBlocks(lb *results.Leaderboard) bool {
	for _, m := range lb.Models {
		if len(m.Blocks) > 0 {
			return true
		}
	}
	return false
}

// resultsRunAbility is the --ability the runs under paths were made with
// (memscope run keeps it in their provenance) when they all agree, so that
// a run's leaderboard and figures read later show what the run printed
// (the embedded model's run measures ability by held-out perplexity only).
// nil, meaning every non-memorization task, when a run does not say or the
// runs disagree.
func resultsRunAbility(paths []string) []string {
	dirs, err := results.FindRuns(paths...)
	if err != nil || len(dirs) == 0 {
		return nil
	}
	var tasks string
	for i, d := range dirs {
		info, err := results.ReadInfo(d)
		if err != nil {
			return nil
		}
		v := info.Extra[runInfoAbility]
		if v == "" || (i > 0 && v != tasks) {
			return nil
		}
		tasks = v
	}
	return strings.Split(tasks, ",")
}

// checkAbilityTasks rejects --ability tasks that no model of the
// leaderboard has a score for.
func checkAbilityTasks(lb *results.Leaderboard, tasks []string) error {
	have := map[string]bool{}
	var names []string
	for _, m := range lb.Models {
		for _, s := range m.Ability {
			if !have[s.Task] {
				have[s.Task] = true
				names = append(names, s.Task)
			}
		}
	}
	for _, t := range tasks {
		if !have[t] {
			return usagef("--ability %s: these runs have no ability scores for %q (they have: %s)", strings.Join(tasks, ","), t, strings.Join(names, ", "))
		}
	}
	return nil
}

// formatFromExt guesses an export format from a file name.
func resultsFormatFromExt(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".ndjson", ".json":
		return results.FormatJSONL
	case ".csv":
		return results.FormatCSV
	case ".parquet", ".pq":
		return results.FormatParquet
	}
	return ""
}

func newExportCmd() *cobra.Command {
	var table, format, out string
	cmd := &cobra.Command{
		Use:   "export DIR --table metrics|docs|requests|comparisons --format jsonl|csv|parquet [--out FILE]",
		Short: "Write one table of a run as JSON lines, CSV or Parquet",
		Long: `export streams one table of a run directory to stdout or to --out.

  jsonl    one JSON object per row (null for nulls and NaN; "Infinity"/"-Infinity")
  csv      a header row, then one row per table row (empty fields for nulls and NaN;
           lists as JSON arrays)
  parquet  zstd-compressed, with the Arrow schema and the run's memscope.* metadata;
           needs --out

Without --format the format follows the --out extension (.jsonl, .csv, .parquet;
another extension needs --format), else jsonl. Files are written atomically.`,
		Example: `  memscope results export runs/pythia --table metrics --format csv
  memscope results export runs/pythia --table requests --out requests.parquet
  memscope results export runs/pythia --table docs --format jsonl | jq 'select(.task == "piqa")'`,
		Args: oneRunDir,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resultsOneOf("table", table, results.Tables); err != nil {
				return err
			}
			if format == "" {
				format = resultsFormatFromExt(out)
				if ext := filepath.Ext(out); format == "" && ext != "" {
					return usagef("--out %s: %s is not an extension memscope knows (.jsonl, .csv, .parquet); add --format jsonl, csv or parquet", out, ext)
				}
				if format == "" {
					format = results.FormatJSONL
				}
			}
			if err := resultsOneOf("format", format, results.ExportFormats); err != nil {
				return err
			}
			if out == "" {
				if format == results.FormatParquet {
					return usagef("parquet is a binary format: give --out FILE.parquet")
				}
				return results.Export(cmd.OutOrStdout(), args[0], table, format)
			}
			return results.ExportFile(out, args[0], table, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&table, "table", results.TableMetrics, "`TABLE` to export: "+strings.Join(results.Tables, ", "))
	f.StringVar(&format, "format", "", "output `FORMAT`: "+strings.Join(results.ExportFormats, ", ")+" (default: from --out's extension, else jsonl)")
	f.StringVarP(&out, "out", "o", "", "write to this `FILE` (atomically) instead of stdout")
	return cmd
}

func newPlotCmd() *cobra.Command {
	var out string
	var ability []string
	cmd := &cobra.Command{
		Use:   "plot DIR [--out DIR/figures]",
		Short: "Draw the paper's figures of a run as PNG files",
		Long: `plot draws, from a run directory's metrics table:

  memorization_vs_<task>_<model>.png   exact match, token accuracy and completion
      entropy against each ability task's main metric, one point per
      short-circuited block (coloured by block), the baseline marked
  memorization_vs_ability_<model>.png  the same against the mean ability change
  per_block.png                        every metric against the short-circuited block,
                                       the baseline as a dashed line
  accuracy_drop_by_category.png        relative accuracy decrease per block,
                                       language vs reasoning tasks

The run needs the baseline and single-block interventions (memscope run
--interventions attn-sc:each).`,
		Example: `  memscope results plot runs/pythia
  memscope results plot runs/pythia --out paper/figures`,
		Args: oneRunDir,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			run, err := results.ReadSummary(dir)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(dir, "figures")
			}
			if !cmd.Flags().Changed("ability") {
				ability = resultsRunAbility([]string{dir})
			}
			paths, err := results.Plot(run, out, results.LeaderboardOptions{AbilityTasks: ability})
			if err != nil {
				return err
			}
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "`FOLDER` for the PNG files (default DIR/figures)")
	cmd.Flags().StringSliceVar(&ability, "ability", nil, "comma-separated `TASKS` whose main metric makes up the mean ability change (default: the run's own --ability, else every non-memorization task)")
	return cmd
}

func newInfoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info DIR",
		Short: "Show a run's provenance and the size of its tables",
		Long: `info prints what a run directory's tables record about how they were made:
run id, memscope version and git commit, machine, start and finish times,
batch size, seed, --limit/--docs, each task's configuration hash, backend,
interventions, task options (paths included) and the response cache setting;
then which models, tasks and interventions were measured, and the table files.`,
		Example: `  memscope results info runs/pythia`,
		Args:    oneRunDir,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			info, err := results.ReadInfo(dir)
			if err != nil {
				return err
			}
			run, err := results.ReadMetrics(dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			row := func(k, v string) {
				if v != "" {
					fmt.Fprintf(w, "%-19s %s\n", k, v)
				}
			}
			row("run", info.RunID)
			row("memscope", strings.TrimSpace(info.HarnessVersion+" "+info.GitCommit))
			row("machine", info.Machine)
			if !info.Started.IsZero() {
				row("started", info.Started.Local().Format("2006-01-02 15:04:05 MST"))
			}
			if !info.Finished.IsZero() && !info.Started.IsZero() {
				row("finished", fmt.Sprintf("%s (%s)", info.Finished.Local().Format("2006-01-02 15:04:05 MST"), info.Finished.Sub(info.Started).Round(1e9)))
			}
			if info.BatchSize > 0 {
				row("batch size", strconv.Itoa(info.BatchSize))
			}
			row("seed", strconv.FormatInt(info.Seed, 10))
			if info.Limit > 0 {
				row("limit", strconv.Itoa(info.Limit))
			}
			row("docs", info.Docs)
			for _, k := range resultsSortedKeys(info.TaskConfigHashes) {
				row("task config", k+" "+info.TaskConfigHashes[k])
			}
			for _, k := range resultsSortedKeys(info.Extra) {
				if k != results.ExtraModels { // shown per model below
					row(k, info.Extra[k])
				}
			}
			models, tasks, ivs := map[string]string{}, map[string]bool{}, map[string]bool{}
			for _, m := range run.Metrics {
				models[m.Model] = m.ModelHash
				tasks[m.Task] = true
				ivs[m.Intervention.String()] = true
			}
			sources := results.ModelSources(info)
			for _, name := range resultsSortedKeys(models) {
				what := results.ShortHash(models[name])
				if src, ok := sources[name]; ok {
					what += ", " + src.Describe()
				}
				row("model", fmt.Sprintf("%s (%s)", name, what))
			}
			row("measured tasks", strings.Join(resultsSortedKeys(tasks), ", "))
			row("measured cells", fmt.Sprintf("%s (baseline included) × %s × %s", plural(len(ivs), "intervention"), plural(len(tasks), "task"), plural(len(models), "model")))
			for _, t := range results.Tables {
				file, _ := results.TableFile(t)
				if st, err := os.Stat(filepath.Join(dir, file)); err == nil {
					row(t+" table", fmt.Sprintf("%s (%s)", filepath.Join(dir, file), resultsHumanBytes(st.Size())))
				}
			}
			// A truncated table was listed with its size and no word.
			if err := results.CheckTables(dir); err != nil {
				return fmt.Errorf("damaged run: %w", err)
			}
			return nil
		},
	}
	return cmd
}

func resultsSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func resultsHumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// oneRunDir accepts exactly one argument, the run directory.
func oneRunDir(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("give exactly one run directory (got %d arguments)", len(args))
	}
	return nil
}
