package cpu

import (
	"math/rand/v2"

	"github.com/memscope/memscope/backends/modelconfig"
)

// NewRandom builds a model of cfg's shape with random weights (normal,
// std 0.02, as HF initializes; layer norms 1 and 0; small random biases),
// for benchmarks and tests that need a model of a real size without its
// weights on disk.
func NewRandom(cfg modelconfig.Config, seed uint64, opts Options) (*Model, error) {
	m, err := newModel(cfg, opts)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d656d73636f7065))
	normal := func(n int, std float64) []float32 {
		out := m.arena.floats(n)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * std)
		}
		return out
	}
	ones := func(n int) []float32 {
		out := m.arena.floats(n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	D, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	lin := func(out, in int, bias bool) linear {
		l := linear{in: in, out: out, w: normal(out*in, 0.02)}
		if bias {
			l.b = normal(out, 0.02)
		}
		return l
	}
	norm := func() layerNorm { return layerNorm{w: ones(D), b: m.arena.floats(D)} }
	m.embed = normal(V*D, 0.02)
	if cfg.ModelType == modelconfig.GPTNeo {
		m.posEmb = normal(cfg.MaxPositions*D, 0.02)
	}
	m.blocks = make([]block, cfg.NumLayers)
	for i := range m.blocks {
		b := block{
			ln1:   norm(),
			ln2:   norm(),
			qkv:   lin(3*D, D, cfg.ModelType == modelconfig.GPTNeoX && cfg.AttentionBias),
			dense: lin(D, D, cfg.ModelType == modelconfig.GPTNeo || cfg.AttentionBias),
			fc1:   lin(I, D, true),
			fc2:   lin(D, I, true),
		}
		if cfg.ModelType == modelconfig.GPTNeo {
			b.local = cfg.AttentionTypes[i] == modelconfig.AttentionLocal
		}
		m.blocks[i] = b
	}
	m.lnF = norm()
	if cfg.ModelType == modelconfig.GPTNeo || cfg.TieWordEmbeddings {
		m.unembed = m.embed
	} else {
		m.unembed = normal(V*D, 0.02)
	}
	return m, nil
}

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
