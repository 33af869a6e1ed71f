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
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/harness/pluginhost"
	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/internal/npy"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

func init() { rootCmd.AddCommand(newForwardCmd()) }

// engineFlags are the flags forward and generate share.
type engineFlags struct {
	model, ids, out, intervene, backend string
	threads, device                     int
	allowNonFinite                      bool
	pluginDirs                          []string
}

func (f *engineFlags) register(cmd *cobra.Command, idsHelp, outHelp string) {
	cmd.Flags().StringVar(&f.model, "model", "", "Hugging Face model `DIR` (config.json + model.safetensors or shards)")
	cmd.Flags().StringVar(&f.ids, "ids", "", idsHelp)
	cmd.Flags().StringVar(&f.out, "out", "", outHelp)
	cmd.Flags().StringVar(&f.intervene, "intervene", "none", "intervention `SPEC`: none, attn-sc:3, attn-sc:1,3, attn-sc:20-23, attn-sc:all, attn-zero:2")
	cmd.Flags().StringVar(&f.backend, "backend", "cpu", "backend plugin `NAME` that computes (memscope backends lists them)")
	cmd.Flags().IntVar(&f.threads, "threads", 0, "compute threads of the backend (`N`; 0: every CPU); for the cpu backend also OPENBLAS_NUM_THREADS and OMP_NUM_THREADS")
	cmd.Flags().IntVar(&f.device, "device", 0, "the GPU a GPU backend runs on (`N`, 0-based as CUDA numbers them; --backend cuda)")
	cmd.Flags().BoolVar(&f.allowNonFinite, "allow-nonfinite-weights", false, "load weights that hold NaN or infinite values (refused by default: a diverged or damaged checkpoint)")
	cmd.Flags().StringArrayVar(&f.pluginDirs, "plugin-dir", nil, "look for plugins in `DIR` first (also $"+pluginhost.EnvPluginDir+"; then the memscope executable's folder, then $PATH)")
}

// check validates the flags before any work: required flags, the spec's
// syntax, the output folder.
func (f *engineFlags) check(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments %q (everything is given by flags)", args)
	}
	for _, r := range []struct{ name, v string }{{"--model", f.model}, {"--ids", f.ids}, {"--out", f.out}, {"--backend", f.backend}} {
		if strings.TrimSpace(r.v) == "" {
			return usagef("%s is required", r.name)
		}
	}
	if _, err := intervention.Parse(f.intervene); err != nil {
		return usagef("--intervene: %v", err)
	}
	if f.threads < 0 {
		return usagef("--threads must be ≥ 0")
	}
	if f.device < 0 {
		return usagef("--device must be ≥ 0")
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

// loaded is a model loaded in a backend plugin, with the request's ids
// and intervention.
type loaded struct {
	backend plugins.Backend
	proc    *plugins.Process
	info    plugins.ModelInfo
	ids     [][]int32
	iv      intervention.Intervention
}

func (l *loaded) close() { l.proc.Kill() }

// load reads the token ids, starts the backend plugin, loads the model
// into it and resolves the intervention. The caller closes the result.
func (f *engineFlags) load(ctx context.Context) (*loaded, error) {
	a, err := npy.ReadFile(f.ids)
	if err != nil {
		return nil, fmt.Errorf("--ids: %w", err)
	}
	ids, err := a.Int32Matrix()
	if err != nil {
		return nil, fmt.Errorf("--ids: %w", err)
	}
	if len(ids) == 0 || len(ids[0]) == 0 {
		return nil, fmt.Errorf("--ids %s: shape %v holds no tokens; want [batch, tokens] with both ≥ 1", f.ids, a.Shape)
	}
	// The intervention is checked against config.json before the backend
	// starts and the weights load.
	cfgPath := filepath.Join(f.model, checkpoint.ConfigFile)
	if _, err := os.Stat(cfgPath); err == nil {
		cfg, err := arch.LoadConfig(cfgPath)
		if err != nil {
			return nil, err
		}
		if _, err = intervention.ParseOne(f.intervene, cfg.NumLayers); err != nil {
			return nil, usagef("--intervene: %v", err)
		}
	}
	paths, err := pluginhost.Resolve(plugins.KindBackend, []string{f.backend}, pluginhost.SearchDirs(f.pluginDirs))
	if err != nil {
		return nil, usagef("--backend: %v", err)
	}
	// The backend's warnings (weights loaded with NaN in them) show.
	b, proc, err := pluginhost.StartBackend(paths[f.backend], f.backend, f.threads, pluginListLogger(), pluginhost.DeviceEnv(f.backend, f.device)...)
	if err != nil {
		return nil, err
	}
	l := &loaded{backend: b, proc: proc, ids: ids}
	l.info, err = b.Load(ctx, plugins.LoadRequest{ModelDir: f.model, Threads: f.threads, AllowNonFiniteWeights: f.allowNonFinite})
	if err == nil {
		l.iv, err = intervention.ParseOne(f.intervene, l.info.NumLayers)
		if err != nil {
			err = usagef("--intervene: %v", err)
		}
	}
	if err != nil {
		l.close()
		return nil, inputError(err)
	}
	return l, nil
}

// inputError makes a backend's input error (bad ids, weights holding NaN)
// a usage error: exit 2.
func inputError(err error) error {
	if errors.Is(err, plugins.ErrInvalidInput) {
		return usageError{err}
	}
	return err
}

// tokenError names the ids file in the engine's token-range errors.
func (f *engineFlags) wrap(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return inputError(fmt.Errorf("%s: %w", f.ids, err))
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
		Use:   "forward --model DIR --ids IDS.npy --out LOGITS.npy [--intervene SPEC] [--backend NAME]",
		Short: "Debug: run the forward pass in a backend and write the logits",
		Long: `forward runs a model on token ids in a backend plugin (--backend, default cpu) and
writes the logits of every position, for comparing memscope's forward pass with another
implementation.

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
			defer plugins.CleanupAll()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := f.load(ctx)
			if err != nil {
				return err
			}
			defer l.close()
			logits, err := l.backend.Logits(ctx, l.iv, l.ids, nil)
			if err != nil {
				return f.wrap(err)
			}
			shape := []int{len(l.ids), len(l.ids[0]), l.info.VocabSize}
			if len(logits) != shape[0]*shape[1]*shape[2] {
				return fmt.Errorf("backend %s returned %d logits, want %v", f.backend, len(logits), shape)
			}
			if c := engine.CountNonFinite(logits); c.Bad() > 0 {
				row := c.First / shape[2]
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the logits hold %s (sequence %d, position %d first)\n", c, row/shape[1], row%shape[1])
			}
			if err := writeNPY(f.out, func(w io.Writer) error { return npy.WriteFloat32(w, shape, logits) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "memscope forward: wrote float32 logits %v (%s) to %s\n", shape, l.iv, f.out)
			return nil
		},
	}
	f.register(cmd, "token ids `IDS.npy`: 2-D int32/int64 [batch, tokens]", "output `LOGITS.npy`: float32 logits [batch, tokens, vocab]")
	cmd.Flags().SetNormalizeFunc(runNormalizeFlag)
	return cmd
}
