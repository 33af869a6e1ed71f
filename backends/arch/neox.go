package arch

import (
	"fmt"
	"math"

	"github.com/memscope/memscope/backends/modelconfig"
)

// GPT-NeoX (Pythia): transformers' GPTNeoXConfig and GPTNeoXForCausalLM.
func init() {
	Register(&Arch{
		ModelType:     modelconfig.GPTNeoX,
		Architectures: []string{"GPTNeoXForCausalLM"},
		Name:          "GPT-NeoX, Pythia",
		Parse:         parseNeoX,
		Check:         checkNeoX,
		Tensors:       neoxTensors,
		Settings:      neoxSettings,
	})
}

// parseNeoX reads GPTNeoXConfig's fields with its defaults.
func parseNeoX(f *modelconfig.Fields) (modelconfig.Config, error) {
	c := modelconfig.Config{
		VocabSize:         f.Int("vocab_size"),
		HiddenSize:        f.Int("hidden_size"),
		NumLayers:         f.Int("num_hidden_layers"),
		NumHeads:          f.Int("num_attention_heads"),
		IntermediateSize:  f.Int("intermediate_size"),
		MaxPositions:      f.Int("max_position_embeddings"),
		LayerNormEps:      f.OptFloat("layer_norm_eps", 1e-5),
		ParallelResidual:  f.OptBool("use_parallel_residual", true),
		TieWordEmbeddings: f.OptBool("tie_word_embeddings", false),
		AttentionBias:     f.OptBool("attention_bias", true),
	}
	act, err := f.Activation("hidden_act", modelconfig.ActGELU)
	if err != nil {
		return modelconfig.Config{}, err
	}
	c.Activation = act
	if err := f.Err(); err != nil {
		return modelconfig.Config{}, err
	}
	c.RotaryPct, c.RotaryBase, err = neoxRotary(f)
	return c, err
}

// neoxRotary reads the rotary settings from any of the forms transformers
// has written: rotary_pct / rotary_emb_base (classic Pythia), top-level
// partial_rotary_factor / rope_theta, or rope_parameters (transformers 5).
// A rope_scaling object is accepted only when it says rope_type "default"
// (newer exports may write the plain settings there). Where several forms
// are present they must agree.
func neoxRotary(f *modelconfig.Fields) (pct, base float64, err error) {
	type source struct {
		name string
		val  float64
	}
	var pcts, bases []source
	add := func(list *[]source, name string, g *modelconfig.Fields) {
		if g.Present(name) {
			*list = append(*list, source{g.Name(name), g.Float(name)})
		}
	}
	add(&pcts, "rotary_pct", f)
	add(&pcts, "partial_rotary_factor", f)
	add(&bases, "rotary_emb_base", f)
	add(&bases, "rope_theta", f)
	for _, key := range []string{"rope_parameters", "rope_scaling"} {
		g, err := f.Object(key)
		if err != nil {
			return 0, 0, err
		}
		if g == nil {
			continue
		}
		typ := g.Str("rope_type", "")
		if typ == "" {
			typ = g.Str("type", "") // older spelling
		}
		if typ == "" && key == "rope_parameters" {
			typ = "default"
		}
		if err := g.Err(); err != nil {
			return 0, 0, err
		}
		if typ != "default" {
			return 0, 0, fmt.Errorf("%s: %s %s is not supported; memscope runs GPT-NeoX with plain rotary embeddings (rope_type \"default\")", f.Source(), key, f.Raw(key))
		}
		add(&pcts, "partial_rotary_factor", g)
		add(&bases, "rope_theta", g)
		for _, k := range g.Keys() {
			switch k {
			case "rope_type", "type", "partial_rotary_factor", "rope_theta":
			default:
				return 0, 0, fmt.Errorf("%s: %s.%s is not supported; memscope runs plain rotary embeddings (rope_type, rope_theta, partial_rotary_factor)", f.Source(), key, k)
			}
		}
		if err := g.Err(); err != nil {
			return 0, 0, err
		}
	}
	if err := f.Err(); err != nil {
		return 0, 0, err
	}
	pick := func(list []source, def float64) (float64, error) {
		if len(list) == 0 {
			return def, nil
		}
		for _, s := range list[1:] {
			if s.val != list[0].val {
				return 0, fmt.Errorf("%s: %s = %g and %s = %g disagree", f.Source(), list[0].name, list[0].val, s.name, s.val)
			}
		}
		return list[0].val, nil
	}
	if pct, err = pick(pcts, 0.25); err != nil {
		return 0, 0, err
	}
	if base, err = pick(bases, 10000); err != nil {
		return 0, 0, err
	}
	return pct, base, nil
}

func checkNeoX(c modelconfig.Config) error {
	if !(c.RotaryPct > 0 && c.RotaryPct <= 1) {
		return fmt.Errorf("rotary_pct must be in (0, 1], got %g", c.RotaryPct)
	}
	if c.RotaryDims()%2 != 0 {
		return fmt.Errorf("rotary dims int(head_dim %d × rotary_pct %g) = %d must be even", c.HeadDim(), c.RotaryPct, c.RotaryDims())
	}
	if !(c.RotaryBase > 0) || math.IsInf(c.RotaryBase, 0) {
		return fmt.Errorf("rotary base must be positive, got %g", c.RotaryBase)
	}
	return nil
}

// neoxTensors is GPTNeoXForCausalLM's state dict: query_key_value is
// already laid out per head as (q, k, v).
func neoxTensors(c modelconfig.Config) []Tensor {
	D, V, I := c.HiddenSize, c.VocabSize, c.IntermediateSize
	var l tensorList
	l.add(Embed, -1, InitNormal, "gpt_neox.embed_in.weight", V, D)
	for i := range c.NumLayers {
		p := fmt.Sprintf("gpt_neox.layers.%d.", i)
		l.norm(AttnNormWeight, AttnNormBias, i, p+"input_layernorm", D)
		l.norm(MLPNormWeight, MLPNormBias, i, p+"post_attention_layernorm", D)
		l.linear(QKVWeight, QKVBias, i, p+"attention.query_key_value", 3*D, D, c.AttentionBias)
		l.linear(AttnOutWeight, AttnOutBias, i, p+"attention.dense", D, D, c.AttentionBias)
		l.linear(MLPInWeight, MLPInBias, i, p+"mlp.dense_h_to_4h", I, D, true)
		l.linear(MLPOutWeight, MLPOutBias, i, p+"mlp.dense_4h_to_h", D, I, true)
	}
	l.norm(FinalNormWeight, FinalNormBias, -1, "gpt_neox.final_layer_norm", D)
	if !c.TieWordEmbeddings {
		l.add(Unembed, -1, InitNormal, "embed_out.weight", V, D)
	}
	return l
}

func neoxSettings(c modelconfig.Config) Settings {
	return Settings{
		// HF scales scores by head_dim**-0.5 (a Python float) on float32.
		AttnScale:        float32(math.Pow(float64(c.HeadDim()), -0.5)),
		RotaryDims:       c.RotaryDims(),
		RotaryBase:       c.RotaryBase,
		Window:           make([]int, c.NumLayers), // global attention everywhere
		ParallelResidual: c.ParallelResidual,
		Activation:       c.Activation,
		TiedUnembed:      c.TieWordEmbeddings,
	}
}
