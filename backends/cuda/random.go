package cuda

import (
	"math/rand/v2"

	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/modelconfig"
)

// NewRandom builds a model of cfg's shape on dev with random weights
// (normal, std 0.02, as HF initializes; layer norms 1 and 0), for
// benchmarks that need a real size without weights on disk.
func NewRandom(dev gpu.Device, cfg modelconfig.Config, seed uint64, opts Options) (*Model, error) {
	m, err := newModel(dev, cfg, opts)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d656d73636f7065))
	l := &loader{m: m}
	normal := func(n int) gpu.Ptr {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.02)
		}
		return l.upload(v)
	}
	fill := func(n int, x float32) gpu.Ptr {
		v := make([]float32, n)
		for i := range v {
			v[i] = x
		}
		return l.upload(v)
	}
	D, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	lin := func(out, in int) linear { return linear{in: in, out: out, w: normal(out * in), b: normal(out)} }
	norm := func() layerNorm { return layerNorm{w: fill(D, 1), b: fill(D, 0)} }
	m.embed = normal(V * D)
	if cfg.ModelType == modelconfig.GPTNeo {
		m.posEmb = normal(cfg.MaxPositions * D)
	}
	for i := 0; i < cfg.NumLayers; i++ {
		b := block{ln1: norm(), ln2: norm(), qkv: lin(3*D, D), dense: lin(D, D), fc1: lin(I, D), fc2: lin(D, I)}
		b.local = cfg.ModelType == modelconfig.GPTNeo && cfg.AttentionTypes[i] == modelconfig.AttentionLocal
		m.blocks = append(m.blocks, b)
	}
	m.lnF = norm()
	m.unembed = m.embed
	if cfg.ModelType == modelconfig.GPTNeoX && !cfg.TieWordEmbeddings {
		m.unembed = normal(V * D)
	}
	if l.err == nil {
		l.err = m.uploadRotary()
	}
	if l.err != nil {
		m.Close()
		return nil, l.err
	}
	if err := m.planCache(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}
