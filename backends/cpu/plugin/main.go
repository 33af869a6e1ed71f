// Command memscope-backend-cpu is memscope's CPU model backend: a
// go-plugin subprocess that runs GPT-NeoX (Pythia) and GPT-Neo checkpoints
// on OpenBLAS through gorgonia's tensor engine. The harness starts it; it is
// not meant to be run by hand.
package main

import (
	"context"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/cpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/lm"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

func main() {
	log := plugins.PluginLogger("cpu")
	// Chosen before the first model loads, so that `memscope backends`
	// shows it and a run records it.
	blas := cpu.BLAS()
	if blas.Warning != "" {
		log.Warn(blas.Warning)
	}
	plugins.ServeBackend(lm.New(lm.Config{
		Name:              "cpu",
		Version:           cpu.Version(),        // stable across builds: cached answers stay valid
		Architectures:     arch.Architectures(), // every registered architecture
		DTypes:            []string{"float32"},
		InterventionKinds: intervention.AttentionKinds,
		Compute:           blas.String(),
		LoadEngine: func(_ context.Context, req plugins.LoadRequest) (engine.Engine, error) {
			m, err := cpu.Load(req.ModelDir, cpu.Options{Threads: req.Threads, AllowNonFiniteWeights: req.AllowNonFiniteWeights})
			if err := lm.CheckLoad(log, err, m); err != nil {
				return nil, err
			}
			log.Info("model loaded", "dir", req.ModelDir, "blas", blas.String(), "threads", m.Threads())
			return m, nil
		},
		LoadTokenizer: lm.HFTokenizer(log),
		InspectModel:  lm.HFInspect,
	}))
}
