package main

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/results"
)

func newReportCmd() *cobra.Command {
	var out, kind string
	var maxLoss float64
	var ability []string
	var holm bool
	cmd := &cobra.Command{
		Use:   "report DIR... [--out report.html]",
		Short: "Write the leaderboard, its intervals and the figures as one self-contained HTML page",
		Long: `report reads every run under the given directories (as leaderboard does) and writes
one HTML file that needs nothing else, network included: the leaderboard with each
change's 95% paired interval and significance mark, columns that sort when their
heading is clicked, every run's figures (embedded) and each run's provenance
(memscope version, machine, seed, task settings, where each model came from).
Share it as it is: mail it, attach it to a pull request, open it offline.`,
		Example: `  memscope results report runs/ --out report.html
  memscope results report runs/pythia-1.4b runs/gpt-neo-1.3b --ability piqa,arc_easy --holm`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give at least one run directory (or a folder of them), e.g. memscope results report runs/ --out report.html")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !strings.HasSuffix(strings.ToLower(out), ".html") && !strings.HasSuffix(strings.ToLower(out), ".htm") {
				return usagef("--out %s: the report is an HTML page; name it FILE.html", out)
			}
			if maxLoss <= 0 || maxLoss >= 100 {
				return usagef("--max-ability-loss %v: give a percentage between 0 and 100, e.g. 5", maxLoss)
			}
			if !cmd.Flags().Changed("ability") {
				ability = resultsRunAbility(args)
			}
			opt := results.LeaderboardOptions{MaxAbilityLoss: maxLoss / 100, AbilityTasks: ability, Holm: holm}
			if kind != "" {
				k, ok := resultsLeaderboardKinds[kind]
				if !ok {
					return usagef("--intervention-kind %q is not one of attn-sc, attn-zero", kind)
				}
				opt.Kind = k
			}
			runs, err := results.LoadRuns(args...)
			if err != nil {
				return err
			}
			return atomicfile.Write(out, 0o644, func(w io.Writer) error {
				return results.WriteReport(w, runs, results.ReportOptions{Leaderboard: opt, Generated: time.Now(), Version: version})
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "report.html", "the HTML `FILE` to write (atomically)")
	f.StringVar(&kind, "intervention-kind", "", "intervention `KIND` compared with the baseline: attn-sc or attn-zero (default: attn-sc when the runs have it)")
	f.Float64Var(&maxLoss, "max-ability-loss", 100*results.DefaultMaxAbilityLoss, "ability loss in `PERCENT` the best configuration may cost")
	f.StringSliceVar(&ability, "ability", nil, "comma-separated `TASKS` whose main metric makes up the ability change (default: the runs' own --ability when they agree)")
	f.BoolVar(&holm, "holm", false, "mark changes by their Holm-adjusted p-value (across the blocks of a sweep)")
	return cmd
}
