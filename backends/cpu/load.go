package cpu

import (
	"fmt"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/backends/weights"
)

// Load reads a Hugging Face model folder (config.json plus model.safetensors
// or its shards; F32, F16 or BF16 weights) into a float32 model.
func Load(dir string, opts Options) (*Model, error) {
	ck, err := checkpoint.Open(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	m, err := newModel(ck.Config, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	nonFinite, err := weights.Load(ck, sink{m})
	if err == nil && len(nonFinite) > 0 && !opts.AllowNonFiniteWeights {
		err = &engine.NonFiniteWeightsError{Tensors: nonFinite}
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m.nonFiniteWeights = nonFinite
	return m, nil
}

// NonFiniteWeights lists the weight tensors holding NaN or ±Inf (loaded
// only with Options.AllowNonFiniteWeights).
func (m *Model) NonFiniteWeights() []engine.NonFiniteTensor { return m.nonFiniteWeights }

// NewRandom builds a model of cfg's shape with random weights
// (weights.Random), for benchmarks and tests that need a model of a real
// size without its weights on disk.
func NewRandom(cfg modelconfig.Config, seed uint64, opts Options) (*Model, error) {
	m, err := newModel(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := weights.Random(cfg, seed, sink{m}); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// sink puts each tensor into the model's arena, off the Go heap, and
// keeps it where the forward pass looks for it.
type sink struct{ m *Model }

func (s sink) Buffer(t arch.Tensor) ([]float32, error) { return s.m.arena.floats(t.Elements()), nil }

func (s sink) Filled(t arch.Tensor, buf []float32) error {
	m := s.m
	if t.Block >= 0 {
		b := &m.blocks[t.Block]
		switch t.Role {
		case arch.AttnNormWeight:
			b.ln1.w = buf
		case arch.AttnNormBias:
			b.ln1.b = buf
		case arch.MLPNormWeight:
			b.ln2.w = buf
		case arch.MLPNormBias:
			b.ln2.b = buf
		case arch.QKVWeight:
			b.qkv = linear{w: buf, out: t.Shape[0], in: t.Shape[1]}
		case arch.QKVBias:
			b.qkv.b = buf
		case arch.AttnOutWeight:
			b.dense = linear{w: buf, out: t.Shape[0], in: t.Shape[1]}
		case arch.AttnOutBias:
			b.dense.b = buf
		case arch.MLPInWeight:
			b.fc1 = linear{w: buf, out: t.Shape[0], in: t.Shape[1]}
		case arch.MLPInBias:
			b.fc1.b = buf
		case arch.MLPOutWeight:
			b.fc2 = linear{w: buf, out: t.Shape[0], in: t.Shape[1]}
		case arch.MLPOutBias:
			b.fc2.b = buf
		default:
			return fmt.Errorf("the cpu engine has no place for a block's %s", t.Role)
		}
		return nil
	}
	switch t.Role {
	case arch.Embed:
		m.embed = buf
		if m.set.TiedUnembed {
			m.unembed = buf
		}
	case arch.PositionEmbed:
		m.posEmb = buf
	case arch.FinalNormWeight:
		m.lnF.w = buf
	case arch.FinalNormBias:
		m.lnF.b = buf
	case arch.Unembed:
		m.unembed = buf
	default:
		return fmt.Errorf("the cpu engine has no place for %s", t.Role)
	}
	return nil
}
