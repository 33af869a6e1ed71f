package arch

import (
	"encoding/json"
	"fmt"

	"github.com/memscope/memscope/backends/modelconfig"
)

// GPT-Neo: transformers' GPTNeoConfig and GPTNeoForCausalLM.
func init() {
	Register(&Arch{
		ModelType:     modelconfig.GPTNeo,
		Architectures: []string{"GPTNeoForCausalLM"},
		Name:          "GPT-Neo",
		Parse:         parseNeo,
		Check:         checkNeo,
		Tensors:       neoTensors,
		Settings:      neoSettings,
	})
}

// parseNeo reads GPTNeoConfig's fields with its defaults.
func parseNeo(f *modelconfig.Fields) (modelconfig.Config, error) {
	c := modelconfig.Config{
		VocabSize:    f.Int("vocab_size"),
		HiddenSize:   f.Int("hidden_size"),
		NumLayers:    f.Int("num_layers"),
		NumHeads:     f.Int("num_heads"),
		MaxPositions: f.Int("max_position_embeddings"),
		LayerNormEps: f.OptFloat("layer_norm_epsilon", 1e-5),
		WindowSize:   f.OptInt("window_size", 256),
		// GPTNeoForCausalLM always ties lm_head to wte.
		TieWordEmbeddings: true,
		// Neo's q/k/v projections have no bias (out_proj has one); the
		// field describes NeoX's fused query_key_value and is false here.
		AttentionBias: false,
	}
	c.IntermediateSize = f.OptInt("intermediate_size", 0)
	if c.IntermediateSize == 0 && f.Err() == nil {
		c.IntermediateSize = 4 * c.HiddenSize
	}
	act, err := f.Activation("activation_function", modelconfig.ActGELUNew)
	if err != nil {
		return modelconfig.Config{}, err
	}
	c.Activation = act
	if err := f.Err(); err != nil {
		return modelconfig.Config{}, err
	}
	c.AttentionTypes, err = expandAttentionTypes(f, c.NumLayers)
	return c, err
}

// expandAttentionTypes turns [[["global","local"],2]] into one type per
// layer, as GPTNeoConfig.expand_attention_types_params does.
func expandAttentionTypes(f *modelconfig.Fields, numLayers int) ([]string, error) {
	if !f.Present("attention_types") {
		return nil, fmt.Errorf("%s: attention_types is missing; GPT-Neo needs e.g. [[[\"global\", \"local\"], %d]]", f.Source(), numLayers/2)
	}
	var groups [][]json.RawMessage
	if err := f.Unmarshal("attention_types", &groups); err != nil {
		return nil, fmt.Errorf("%s: attention_types must look like [[[\"global\", \"local\"], N]]: %v", f.Source(), err)
	}
	var out []string
	for _, g := range groups {
		var types []string
		var reps int
		if len(g) != 2 || json.Unmarshal(g[0], &types) != nil || json.Unmarshal(g[1], &reps) != nil || len(types) == 0 || reps < 0 {
			return nil, fmt.Errorf("%s: attention_types entry %s must be [[types...], repeats]", f.Source(), modelconfig.CompactList(g))
		}
		for _, t := range types {
			if t != modelconfig.AttentionGlobal && t != modelconfig.AttentionLocal {
				return nil, fmt.Errorf("%s: attention type %q is not supported (want %q or %q)", f.Source(), t, modelconfig.AttentionGlobal, modelconfig.AttentionLocal)
			}
		}
		if reps > 1<<20 || len(types) > 1<<20 || len(out)+reps*len(types) > 1<<20 {
			return nil, fmt.Errorf("%s: attention_types expands to too many layers", f.Source())
		}
		for range reps {
			out = append(out, types...)
		}
	}
	if len(out) != numLayers {
		return nil, fmt.Errorf("%s: attention_types expands to %d layers but num_layers is %d", f.Source(), len(out), numLayers)
	}
	return out, nil
}

func checkNeo(c modelconfig.Config) error {
	if len(c.AttentionTypes) != c.NumLayers {
		return fmt.Errorf("%d attention types for %d layers", len(c.AttentionTypes), c.NumLayers)
	}
	if c.WindowSize <= 0 {
		for _, t := range c.AttentionTypes {
			if t == modelconfig.AttentionLocal {
				return fmt.Errorf("window_size must be positive for local attention, got %d", c.WindowSize)
			}
		}
	}
	return nil
}

// neoTensors is GPTNeoForCausalLM's state dict. Its separate q, k, v
// projections (no bias) are interleaved per head into one QKV matrix;
// lm_head is tied to wte.
func neoTensors(c modelconfig.Config) []Tensor {
	D, V, I := c.HiddenSize, c.VocabSize, c.IntermediateSize
	var l tensorList
	l.add(Embed, -1, InitNormal, "transformer.wte.weight", V, D)
	l.add(PositionEmbed, -1, InitNormal, "transformer.wpe.weight", c.MaxPositions, D)
	for i := range c.NumLayers {
		p := fmt.Sprintf("transformer.h.%d.", i)
		a := p + "attn.attention."
		l.norm(AttnNormWeight, AttnNormBias, i, p+"ln_1", D)
		l.norm(MLPNormWeight, MLPNormBias, i, p+"ln_2", D)
		l = append(l, Tensor{Role: QKVWeight, Block: i, Shape: []int{3 * D, D}, Layout: QKVPerHead, Heads: c.NumHeads, Init: InitNormal,
			Sources: []string{a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"}})
		l.linear(AttnOutWeight, AttnOutBias, i, a+"out_proj", D, D, true)
		l.linear(MLPInWeight, MLPInBias, i, p+"mlp.c_fc", I, D, true)
		l.linear(MLPOutWeight, MLPOutBias, i, p+"mlp.c_proj", D, I, true)
	}
	l.norm(FinalNormWeight, FinalNormBias, -1, "transformer.ln_f", D)
	return l
}

func neoSettings(c modelconfig.Config) Settings {
	window := make([]int, c.NumLayers)
	for i, t := range c.AttentionTypes {
		if t == modelconfig.AttentionLocal {
			window[i] = c.WindowSize
		}
	}
	return Settings{
		AttnScale:        1, // GPT-Neo does not scale attention scores
		LearnedPositions: true,
		Window:           window,
		ParallelResidual: false, // attn_output + residual, then mlp_output + that
		Activation:       c.Activation,
		TiedUnembed:      true,
	}
}
