package cpu

import "github.com/memscope/memscope/backends/modelconfig"

// Pythia160MConfig is the shape of EleutherAI/pythia-160m (the
// benchmarks' model).
func Pythia160MConfig() modelconfig.Config {
	return modelconfig.Config{
		ModelType:        modelconfig.GPTNeoX,
		Architecture:     "GPTNeoXForCausalLM",
		VocabSize:        50304,
		HiddenSize:       768,
		NumLayers:        12,
		NumHeads:         12,
		IntermediateSize: 3072,
		MaxPositions:     2048,
		LayerNormEps:     1e-5,
		Activation:       modelconfig.ActGELU,
		RotaryPct:        0.25,
		RotaryBase:       10000,
		ParallelResidual: true,
		AttentionBias:    true,
		TorchDType:       "float16",
	}
}
