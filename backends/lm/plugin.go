package lm

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"

	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/backends/tokenizer"
	"github.com/memscope/memscope/plugins"
)

// HFTokenizer loads the model folder's Hugging Face tokenizer
// (tokenizer.json, or vocab.json + merges.txt), warning on log when there
// is none: token-id requests still work without one.
func HFTokenizer(log hclog.Logger) TokenizerLoader {
	return func(dir string) (Tokenizer, error) {
		tok, err := tokenizer.Load(dir)
		if err != nil {
			log.Warn("no tokenizer; only token-id requests will work", "error", err)
			return nil, err
		}
		return tok, nil
	}
}

// nonFiniteReporter is an engine that lists the weight tensors it loaded
// although they hold NaN or ±Inf.
type nonFiniteReporter interface {
	NonFiniteWeights() []engine.NonFiniteTensor
}

// CheckLoad is what every plugin does with an engine's load result under
// the numerics policy: weights refused for holding NaN or ±Inf are the
// user's input error (to fix, or allow with --allow-nonfinite-weights),
// and tensors loaded anyway are logged as warnings.
func CheckLoad(log hclog.Logger, err error, eng engine.Engine) error {
	var nfe *engine.NonFiniteWeightsError
	if errors.As(err, &nfe) {
		return plugins.InvalidInput(err)
	}
	if err != nil {
		return err
	}
	if r, ok := eng.(nonFiniteReporter); ok {
		for _, t := range r.NonFiniteWeights() {
			log.Warn("weights hold NaN or infinite values (loaded because --allow-nonfinite-weights is set); scores they reach are NaN",
				"tensor", t.Name, "values", t.Count.String())
		}
	}
	return nil
}

// HFInspect reads a Hugging Face model folder's configuration without its
// weights (lm.Config.InspectModel): config.json, and the safetensors
// headers checked against it (weights present, the blocks they hold).
func HFInspect(_ context.Context, req plugins.LoadRequest) (modelconfig.Config, error) {
	ck, err := checkpoint.Open(req.ModelDir)
	if err != nil {
		return modelconfig.Config{}, err
	}
	defer ck.Close()
	return ck.Config, nil
}
