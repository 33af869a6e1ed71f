package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/results"
)

// errRunsDiffer is results diff's verdict; its differences are already printed.
var errRunsDiffer = errors.New("the runs differ")

func newDiffCmd() *cobra.Command {
	var max int
	cmd := &cobra.Command{
		Use:   "diff DIR1 DIR2",
		Short: "Check that two runs measured the same: their tables row for row",
		Long: `diff compares the three tables of two run directories row for row and column by
column (every column but run_id; numbers exactly, NaN equal to NaN) and prints
the first differences. Provenance (run ids, times, machines) is not compared.

It answers "did this give the same results?": a resumed run against an
uninterrupted one, a merged sharded run against the unsharded one, a rebuild
against the last release. Exit status: 0 the same, 1 different, 2 bad arguments.`,
		Example: `  memscope results diff runs/unsharded runs/sharded
  memscope results diff runs/before runs/after --max 100`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("give two run directories (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if max <= 0 {
				return usagef("--max %d: give a positive number of differences to show", max)
			}
			diffs, err := results.Diff(args[0], args[1], max)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(diffs) == 0 {
				fmt.Fprintf(w, "same tables: %s and %s (run ids and provenance aside)\n", args[0], args[1])
				return nil
			}
			for _, d := range diffs {
				fmt.Fprintln(w, d)
			}
			return errRunsDiffer
		},
	}
	cmd.Flags().IntVar(&max, "max", 20, "show at most `N` differences")
	return cmd
}
