package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/internal/npy"
	"github.com/memscope/memscope/plugins"
)

func init() { rootCmd.AddCommand(newGenerateCmd()) }

func newGenerateCmd() *cobra.Command {
	var f engineFlags
	var newTokens int
	cmd := &cobra.Command{
		Use:   "generate --model DIR --ids PREFIX.npy --new N --out IDS.npy [--intervene SPEC] [--backend NAME]",
		Short: "Debug: greedy continuation of token prefixes in a backend",
		Long: `generate continues each row of PREFIX.npy (a 2-D integer array [batch, tokens]) by N
greedy tokens (argmax, ties to the lowest id) with a KV cache, in a backend plugin
(--backend, default cpu), and writes the new tokens as int64 [batch, N]. --intervene
applies in the prefill and in every decode step.`,
		Example: `  memscope generate --model harness/embedded/memorizer/model --ids prefixes.npy --new 32 --out continuations.npy
  memscope generate --model pythia-160m --ids prefixes.npy --new 32 --intervene attn-sc:11 --out sc11.npy`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(args); err != nil {
				return err
			}
			if newTokens < 1 {
				return usagef("--new must be at least 1 (how many tokens to generate)")
			}
			defer plugins.CleanupAll()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := f.load(ctx)
			if err != nil {
				return err
			}
			defer l.close()
			reqs := make([]plugins.GenerateRequest, len(l.ids))
			for i, pre := range l.ids {
				reqs[i] = plugins.GenerateRequest{Prefix: pre, NewTokens: newTokens}
			}
			gens, err := l.backend.GenerateTokens(ctx, l.iv, reqs, nil)
			if err != nil {
				return f.wrap(err)
			}
			out := make([]int64, 0, len(gens)*newTokens)
			for i, g := range gens {
				if g.NonFinite != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: prefix %d: the forward pass went NaN or infinite (%s); the tokens from there on mean nothing\n", i, g.NonFinite)
				}
				for _, id := range g.IDs {
					out = append(out, int64(id))
				}
			}
			shape := []int{len(gens), newTokens}
			if err := writeNPY(f.out, func(w io.Writer) error { return npy.WriteInt64(w, shape, out) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "memscope generate: wrote int64 ids %v (%s) to %s\n", shape, l.iv, f.out)
			return nil
		},
	}
	f.register(cmd, "prefixes `PREFIX.npy`: 2-D int32/int64 [batch, tokens]", "output `IDS.npy`: int64 new tokens [batch, N]")
	cmd.Flags().IntVar(&newTokens, "new", 0, "`N` tokens to generate (required)")
	cmd.Flags().SetNormalizeFunc(runNormalizeFlag)
	return cmd
}
