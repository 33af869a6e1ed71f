package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/cpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/internal/npy"
	"github.com/memscope/memscope/intervention"
)

func init() { rootCmd.AddCommand(newForwardCmd()) }

// engineFlags are the flags forward and generate share.
type engineFlags struct {
	model, ids, out, intervene string
	threads                    int
	allowNonFinite             bool
}

func (f *engineFlags) register(cmd *cobra.Command, idsHelp, outHelp string) {
	cmd.Flags().StringVar(&f.model, "model", "", "Hugging Face model `DIR` (config.json + model.safetensors or shards)")
	cmd.Flags().StringVar(&f.ids, "ids", "", idsHelp)
	cmd.Flags().StringVar(&f.out, "out", "", outHelp)
	cmd.Flags().StringVar(&f.intervene, "intervene", "none", "intervention `SPEC`: none, attn-sc:3, attn-sc:1,3, attn-sc:20-23, attn-sc:all, attn-zero:2")
	cmd.Flags().IntVar(&f.threads, "threads", 0, "compute threads `N` (0: OPENBLAS_NUM_THREADS if set, else every CPU)")
	cmd.Flags().BoolVar(&f.allowNonFinite, "allow-nonfinite-weights", false, "load weights that hold NaN or infinite values (refused by default: a diverged or damaged checkpoint)")
}

// check validates the flags before any work: required flags, the spec's
// syntax, the output folder.
func (f *engineFlags) check(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments %q (everything is given by flags)", args)
	}
	for _, r := range []struct{ name, v string }{{"--model", f.model}, {"--ids", f.ids}, {"--out", f.out}} {
		if r.v == "" {
			return usagef("%s is required", r.name)
		}
	}
	if _, err := intervention.Parse(f.intervene); err != nil {
		return usagef("--intervene: %v", err)
	}
	if f.threads < 0 {
		return usagef("--threads must be ≥ 0")
	}
	dir := filepath.Dir(f.out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--out %s: folder %s does not exist", f.out, dir)
	}
	if st, err := os.Stat(f.out); err == nil && st.IsDir() {
		return usagef("--out %s is a folder; give a file name like logits.npy", f.out)
	}
	return nil
}

// load reads the token ids and the model and resolves the intervention.
func (f *engineFlags) load() (*cpu.Model, [][]int32, intervention.Intervention, error) {
	var iv intervention.Intervention
	a, err := npy.ReadFile(f.ids)
	if err != nil {
		return nil, nil, iv, fmt.Errorf("--ids: %w", err)
	}
	ids, err := a.Int32Matrix()
	if err != nil {
		return nil, nil, iv, fmt.Errorf("--ids: %w", err)
	}
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, nil, iv, fmt.Errorf("--ids %s: shape %v holds no tokens; want [batch, tokens] with both ≥ 1", f.ids, a.Shape)
	}
	// The intervention is checked against config.json before the weights load.
	cfgPath := filepath.Join(f.model, checkpoint.ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		cfg, err := arch.LoadConfig(cfgPath)
		if err != nil {
			return nil, nil, iv, err
		}
		if iv, err = intervention.ParseOne(f.intervene, cfg.NumLayers); err != nil {
			return nil, nil, iv, usagef("--intervene: %v", err)
		}
	}
	m, err := cpu.Load(f.model, cpu.Options{Threads: f.threads, AllowNonFiniteWeights: f.allowNonFinite})
	var nfe *engine.NonFiniteWeightsError
	if errors.As(err, &nfe) {
		return nil, nil, iv, usageError{err}
	}
	if err != nil {
		return nil, nil, iv, err
	}
	for _, t := range m.NonFiniteWeights() {
		fmt.Fprintf(os.Stderr, "warning: weight %s holds %s; outputs it reaches are NaN\n", t.Name, t.Count)
	}
	return m, ids, iv, nil
}

// tokenError names the ids file in the engine's token-range errors.
func (f *engineFlags) wrap(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", f.ids, err)
}

// writeNPY writes one array atomically: on any error nothing is left at path.
func writeNPY(path string, write func(w io.Writer) error) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

func newForwardCmd() *cobra.Command {
	var f engineFlags
	cmd := &cobra.Command{
		Use:   "forward --model DIR --ids IDS.npy --out LOGITS.npy [--intervene SPEC]",
		Short: "Debug: run the CPU forward pass and write the logits",
		Long: `forward runs a model on token ids with the CPU engine and writes the logits of every
position, for comparing memscope's forward pass with another implementation.

IDS.npy is a 2-D integer array [batch, tokens] (int32 or int64, as np.save writes it); the
output is float32 [batch, tokens, vocab]. --intervene applies one intervention, e.g.
attn-sc:3 (block 3's attention short-circuited: each token attends only to itself) or
attn-zero:3 (block 3's attention output replaced by zeros).`,
		Example: `  memscope forward --model harness/embedded/memorizer/model --ids ids.npy --out logits.npy
  memscope forward --model pythia-160m --ids ids.npy --intervene attn-sc:11 --out logits.sc11.npy`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(args); err != nil {
				return err
			}
			m, ids, iv, err := f.load()
			if err != nil {
				return err
			}
			defer m.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			logits, err := m.Logits(ctx, ids, iv)
			if err != nil {
				return f.wrap(err)
			}
			shape := []int{len(ids), len(ids[0]), m.Config().VocabSize}
			if c := engine.CountNonFinite(logits); c.Bad() > 0 {
				row := c.First / shape[2]
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the logits hold %s (sequence %d, position %d first)\n", c, row/shape[1], row%shape[1])
			}
			if err := writeNPY(f.out, func(w io.Writer) error { return npy.WriteFloat32(w, shape, logits) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "memscope forward: wrote float32 logits %v (%s) to %s\n", shape, iv, f.out)
			return nil
		},
	}
	f.register(cmd, "token ids `IDS.npy`: 2-D int32/int64 [batch, tokens]", "output `LOGITS.npy`: float32 logits [batch, tokens, vocab]")
	return cmd
}
