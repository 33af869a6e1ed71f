package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/paired"
)

// compareIntervention parses a spec naming one concrete configuration
// (none, attn-sc:4, attn-sc:4,5; not all or each, whose blocks depend on
// the model).
func compareIntervention(flag, spec string) (intervention.Intervention, error) {
	s, err := intervention.Parse(spec)
	if err != nil {
		return intervention.Intervention{}, usagef("--%s: %v", flag, err)
	}
	if s.All || s.Each {
		return intervention.Intervention{}, usagef("--%s %s: name the blocks (e.g. attn-sc:4 or attn-sc:4,5); all and each depend on the model", flag, spec)
	}
	return intervention.New(s.Kind, s.Blocks...), nil
}

func newCompareCmd() *cobra.Command {
	var reference, format, out string
	var ivs, tasks, metrics []string
	var holm bool
	var seed int64
	var resamples int
	cmd := &cobra.Command{
		Use:   "compare DIR [--reference SPEC] [--intervention SPEC]... [--out FILE]",
		Short: "Paired significance of every configuration's change, recomputed from docs.arrow",
		Long: `compare pairs each configuration's per-document scores with the reference's (the
baseline unless --reference says otherwise) on the same documents and reports, per
metric: the mean difference with its standard error, a 95% percentile bootstrap
interval (` + fmt.Sprint(paired.DefaultResamples) + ` resamples of the documents, seeded with the run's --seed), and a
p-value: the exact McNemar test for 0/1 metrics (acc, exact_match), the paired
bootstrap for the others; Holm's correction runs over the configurations of one
intervention kind (the blocks of a sweep) for each task and metric.

memscope run stores the same table against the baseline as DIR/comparisons.arrow;
compare recomputes it from DIR/docs.arrow bit for bit (--out DIR/comparisons.arrow
rewrites it), or compares any two configurations of a model.

Output: a text table (default), --format csv or json, or with --out FILE.arrow the
Arrow table (columns as in comparisons.arrow; .csv and .json files follow --format
or the extension).`,
		Example: `  memscope results compare runs/pythia
  memscope results compare runs/pythia --holm --task piqa
  memscope results compare runs/pythia --reference attn-sc:4 --intervention attn-sc:4,5
  memscope results compare runs/pythia --out runs/pythia/comparisons.arrow`,
		Args: oneRunDir,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			opt := results.CompareOptions{Seed: seed, Resamples: resamples}
			if reference != "" {
				iv, err := compareIntervention("reference", reference)
				if err != nil {
					return err
				}
				opt.Reference = iv
			}
			for _, s := range ivs {
				iv, err := compareIntervention("intervention", s)
				if err != nil {
					return err
				}
				opt.Interventions = append(opt.Interventions, iv)
			}
			if resamples < 0 {
				return usagef("--resamples %d: give a positive number of bootstrap resamples", resamples)
			}
			arrowOut := strings.EqualFold(filepath.Ext(out), ".arrow")
			if !cmd.Flags().Changed("format") && out != "" && !arrowOut {
				switch strings.ToLower(filepath.Ext(out)) {
				case ".csv":
					format = results.FormatCSV
				case ".json":
					format = "json"
				}
			}
			if !arrowOut {
				if err := resultsOneOf("format", format, results.ComparisonFormats); err != nil {
					return err
				}
			}
			if arrowOut {
				if len(tasks) > 0 || len(metrics) > 0 {
					return usagef("--task and --metric select rows to print; an .arrow file holds every comparison (filter it when reading)")
				}
				cs, err := results.WriteComparisons(dir, out, opt)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s → %s\n", plural(len(cs), "comparison"), out)
				return nil
			}
			cs, _, err := results.Compare(dir, opt)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				return compareNothing(dir, opt)
			}
			cs = filterComparisons(cs, tasks, metrics)
			if len(cs) == 0 {
				return usagef("no comparison matches --task %s --metric %s", strings.Join(tasks, ","), strings.Join(metrics, ","))
			}
			return resultsWriteOutput(cmd, out, func(w io.Writer) error { return results.RenderComparisons(w, cs, format, holm) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&reference, "reference", "", "compare against this configuration `SPEC` (default none: the baseline), e.g. attn-sc:4")
	f.StringArrayVar(&ivs, "intervention", nil, "only this configuration `SPEC` (repeatable), e.g. attn-sc:4,5")
	f.StringSliceVar(&tasks, "task", nil, "only these `TASKS` (comma-separated)")
	f.StringSliceVar(&metrics, "metric", nil, "only these per-document `METRICS` (comma-separated), e.g. acc,exact_match")
	f.BoolVar(&holm, "holm", false, "mark changes by their Holm-adjusted p-value (across the blocks of a sweep) instead of their own")
	f.Int64Var(&seed, "seed", 0, "bootstrap `SEED` (default: the run's --seed, as stored in comparisons.arrow)")
	f.IntVar(&resamples, "resamples", paired.DefaultResamples, "bootstrap `N` resamples")
	f.StringVar(&format, "format", results.FormatText, "output `FORMAT`: "+strings.Join(results.ComparisonFormats, ", ")+" (an --out FILE.arrow writes the Arrow table)")
	f.StringVarP(&out, "out", "o", "", "write to this `FILE` (atomically) instead of stdout; FILE.arrow: the Arrow table")
	return cmd
}

func filterComparisons(cs []results.Comparison, tasks, metrics []string) []results.Comparison {
	var out []results.Comparison
	for _, c := range cs {
		if len(tasks) > 0 && !containsFold(tasks, c.Task) {
			continue
		}
		if len(metrics) > 0 && !containsFold(metrics, c.Metric) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func containsFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// compareNothing explains an empty comparison.
func compareNothing(dir string, opt results.CompareOptions) error {
	ref := "the baseline (none)"
	if opt.Reference.Kind != "" && !opt.Reference.IsBaseline() {
		ref = opt.Reference.String()
	}
	run, err := results.ReadMetrics(dir)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	var names []string
	for _, m := range run.Metrics {
		s := m.Intervention.String()
		if !have[s] {
			have[s] = true
			names = append(names, s)
		}
	}
	return usagef("nothing to compare in %s against %s: it measured %s", dir, ref, strings.Join(names, ", "))
}
