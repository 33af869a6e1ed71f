package cpu

import (
	"fmt"
	"slices"

	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
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
	l := &tensorLoader{ck: ck, arena: m.arena}
	switch ck.Config.ModelType {
	case modelconfig.GPTNeoX:
		m.loadNeoX(l)
	case modelconfig.GPTNeo:
		m.loadNeo(l)
	}
	err = l.err
	if err == nil && len(l.nonFinite) > 0 && !opts.AllowNonFiniteWeights {
		err = &engine.NonFiniteWeightsError{Tensors: l.nonFinite}
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	m.nonFiniteWeights = l.nonFinite
	return m, nil
}

// NonFiniteWeights lists the weight tensors holding NaN or ±Inf (loaded
// only with Options.AllowNonFiniteWeights).
func (m *Model) NonFiniteWeights() []engine.NonFiniteTensor { return m.nonFiniteWeights }

// tensorLoader collects the first error of many Require calls, and the
// tensors holding non-finite values. Weights go into the model's arena,
// off the Go heap.
type tensorLoader struct {
	ck        *checkpoint.Checkpoint
	arena     *weightArena
	err       error
	nonFinite []engine.NonFiniteTensor
}

// check notes a tensor that holds NaN or ±Inf.
func (l *tensorLoader) check(name string, v []float32) {
	if !allFinite(v) {
		l.nonFinite = append(l.nonFinite, engine.NonFiniteTensor{Name: name, Count: engine.CountNonFinite(v)})
	}
}

func (l *tensorLoader) get(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	info, ok := l.ck.Info(name)
	if ok && !slices.Equal(info.Shape, shape) {
		l.err = fmt.Errorf("tensor %s in %s has shape %v, want %v for this config.json", name, info.File, info.Shape, shape)
		return nil
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	dst := l.arena.floats(n)
	if err := l.ck.Float32Into(name, dst); err != nil {
		l.err = err
		return nil
	}
	l.check(name, dst)
	return dst
}

// temp reads a tensor onto the Go heap, for weights that are rearranged
// before use.
func (l *tensorLoader) temp(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	v, err := l.ck.Require(name, shape...)
	if err != nil {
		l.err = err
		return nil
	}
	l.check(name, v)
	return v
}

func (l *tensorLoader) linear(prefix string, out, in int, bias bool) linear {
	lin := linear{in: in, out: out, w: l.get(prefix+".weight", out, in)}
	if bias {
		lin.b = l.get(prefix+".bias", out)
	}
	return lin
}

func (l *tensorLoader) norm(prefix string, d int) layerNorm {
	return layerNorm{w: l.get(prefix+".weight", d), b: l.get(prefix+".bias", d)}
}

func (m *Model) loadNeoX(l *tensorLoader) {
	c := m.cfg
	D, V, I := c.HiddenSize, c.VocabSize, c.IntermediateSize
	m.embed = l.get("gpt_neox.embed_in.weight", V, D)
	m.blocks = make([]block, c.NumLayers)
	for i := range m.blocks {
		p := fmt.Sprintf("gpt_neox.layers.%d.", i)
		m.blocks[i] = block{
			ln1:   l.norm(p+"input_layernorm", D),
			ln2:   l.norm(p+"post_attention_layernorm", D),
			qkv:   l.linear(p+"attention.query_key_value", 3*D, D, c.AttentionBias),
			dense: l.linear(p+"attention.dense", D, D, c.AttentionBias),
			fc1:   l.linear(p+"mlp.dense_h_to_4h", I, D, true),
			fc2:   l.linear(p+"mlp.dense_4h_to_h", D, I, true),
		}
	}
	m.lnF = l.norm("gpt_neox.final_layer_norm", D)
	if c.TieWordEmbeddings {
		m.unembed = m.embed
	} else {
		m.unembed = l.get("embed_out.weight", V, D)
	}
}

func (m *Model) loadNeo(l *tensorLoader) {
	c := m.cfg
	D, V, I := c.HiddenSize, c.VocabSize, c.IntermediateSize
	m.embed = l.get("transformer.wte.weight", V, D)
	m.posEmb = l.get("transformer.wpe.weight", c.MaxPositions, D)
	m.blocks = make([]block, c.NumLayers)
	for i := range m.blocks {
		p := fmt.Sprintf("transformer.h.%d.", i)
		q := l.temp(p+"attn.attention.q_proj.weight", D, D)
		k := l.temp(p+"attn.attention.k_proj.weight", D, D)
		v := l.temp(p+"attn.attention.v_proj.weight", D, D)
		m.blocks[i] = block{
			ln1:   l.norm(p+"ln_1", D),
			ln2:   l.norm(p+"ln_2", D),
			qkv:   linear{in: D, out: 3 * D, w: interleaveQKV(l.arena, q, k, v, c.NumHeads, D)},
			dense: l.linear(p+"attn.attention.out_proj", D, D, true),
			fc1:   l.linear(p+"mlp.c_fc", I, D, true),
			fc2:   l.linear(p+"mlp.c_proj", D, I, true),
			local: c.AttentionTypes[i] == modelconfig.AttentionLocal,
		}
	}
	m.lnF = l.norm("transformer.ln_f", D)
	m.unembed = m.embed // GPT-Neo ties lm_head to wte
}

// interleaveQKV stacks separate [D, D] q, k, v projections into one
// [3D, D] matrix whose rows go head by head as (q, k, v) blocks.
func interleaveQKV(arena *weightArena, q, k, v []float32, heads, D int) []float32 {
	if q == nil || k == nil || v == nil {
		return nil
	}
	hd := D / heads
	out := arena.floats(3 * D * D)
	for h := 0; h < heads; h++ {
		for j, src := range [][]float32{q, k, v} {
			dst := out[(h*3+j)*hd*D : (h*3+j+1)*hd*D]
			copy(dst, src[h*hd*D:(h+1)*hd*D])
		}
	}
	return out
}
