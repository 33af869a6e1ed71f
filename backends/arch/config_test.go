package arch

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/modelconfig"
)

func TestLoadTinyNeoX(t *testing.T) {
	c, err := LoadConfig("../testdata/tiny/gptneox-tiny/config.json")
	require.NoError(t, err)
	assert.Equal(t, modelconfig.Config{
		ModelType: modelconfig.GPTNeoX, Architecture: "GPTNeoXForCausalLM",
		VocabSize: 384, HiddenSize: 64, NumLayers: 4, NumHeads: 4, IntermediateSize: 256,
		MaxPositions: 128, LayerNormEps: 1e-5, Activation: modelconfig.ActGELU,
		RotaryPct: 0.25, RotaryBase: 10000, ParallelResidual: true, TieWordEmbeddings: false, AttentionBias: true,
		TorchDType: "float32",
	}, c)
	assert.Equal(t, 16, c.HeadDim())
	assert.Equal(t, 4, c.RotaryDims())

	s, err := LoadConfig("../testdata/tiny/gptneox-tiny-seqres/config.json")
	require.NoError(t, err)
	assert.False(t, s.ParallelResidual)
	assert.Equal(t, 0.5, s.RotaryPct)
	assert.Equal(t, 8, s.RotaryDims())

	b, err := LoadConfig("../testdata/tiny/gptneox-tiny-bf16/config.json")
	require.NoError(t, err)
	assert.Equal(t, "bfloat16", b.TorchDType)
}

func TestLoadTinyNeo(t *testing.T) {
	for _, dir := range []string{"gptneo-tiny", "gptneo-tiny-fp16"} {
		c, err := LoadConfig(filepath.Join("../testdata/tiny", dir, "config.json"))
		require.NoError(t, err)
		assert.Equal(t, modelconfig.GPTNeo, c.ModelType)
		assert.Equal(t, "GPTNeoForCausalLM", c.Architecture)
		assert.Equal(t, 64, c.HiddenSize)
		assert.Equal(t, 4, c.NumLayers)
		assert.Equal(t, 4, c.NumHeads)
		assert.Equal(t, 256, c.IntermediateSize, "null intermediate_size is 4 × hidden")
		assert.Equal(t, 128, c.MaxPositions)
		assert.Equal(t, modelconfig.ActGELUNew, c.Activation)
		assert.Equal(t, []string{"global", "local", "global", "local"}, c.AttentionTypes)
		assert.Equal(t, 8, c.WindowSize)
		assert.True(t, c.TieWordEmbeddings)
		assert.Equal(t, 1e-5, c.LayerNormEps)
	}
}

func TestLoadMemorizer(t *testing.T) {
	c, err := LoadConfig("../../harness/embedded/memorizer/model/config.json")
	require.NoError(t, err)
	assert.Equal(t, 4096, c.VocabSize)
	assert.Equal(t, 192, c.HiddenSize)
	assert.Equal(t, 6, c.NumLayers)
	assert.Equal(t, 6, c.NumHeads)
	assert.Equal(t, 768, c.IntermediateSize)
	assert.Equal(t, 256, c.MaxPositions)
	assert.Equal(t, 8, c.RotaryDims())
	assert.Equal(t, "float16", c.TorchDType)
}

// neox returns a minimal valid GPT-NeoX config with changes applied
// (a nil value deletes the key).
func neox(changes map[string]any) []byte {
	m := map[string]any{
		"model_type": "gpt_neox", "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 64,
	}
	return render(m, changes)
}

func neo(changes map[string]any) []byte {
	m := map[string]any{
		"model_type": "gpt_neo", "vocab_size": 100, "hidden_size": 32, "num_layers": 3,
		"num_heads": 4, "max_position_embeddings": 64,
		"attention_types": []any{[]any{[]string{"global", "local"}, 1}, []any{[]string{"local"}, 1}},
		"window_size":     4,
	}
	return render(m, changes)
}

func render(m, changes map[string]any) []byte {
	m = maps.Clone(m)
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestNeoXDefaults(t *testing.T) {
	c, err := ParseConfig(neox(nil), "config.json")
	require.NoError(t, err)
	assert.Equal(t, "GPTNeoXForCausalLM", c.Architecture)
	assert.Equal(t, modelconfig.ActGELU, c.Activation)
	assert.Equal(t, 0.25, c.RotaryPct)
	assert.Equal(t, 10000.0, c.RotaryBase)
	assert.True(t, c.ParallelResidual)
	assert.False(t, c.TieWordEmbeddings)
	assert.True(t, c.AttentionBias)
	assert.Equal(t, 1e-5, c.LayerNormEps)
}

func TestNeoXRotaryForms(t *testing.T) {
	cases := []struct {
		name       string
		changes    map[string]any
		pct, theta float64
	}{
		{"classic", map[string]any{"rotary_pct": 0.5, "rotary_emb_base": 20000}, 0.5, 20000},
		{"top-level new names", map[string]any{"partial_rotary_factor": 0.5, "rope_theta": 1e6}, 0.5, 1e6},
		{"rope_parameters", map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 500000, "partial_rotary_factor": 1.0}}, 1, 500000},
		{"rope_parameters agreeing with classic", map[string]any{"rotary_pct": 0.25, "rotary_emb_base": 10000,
			"rope_parameters": map[string]any{"rope_theta": 10000.0, "partial_rotary_factor": 0.25}}, 0.25, 10000},
		{"null rope_scaling", map[string]any{"rope_scaling": nil}, 0.25, 10000},
		{"default rope_scaling", map[string]any{"rope_scaling": map[string]any{"rope_type": "default", "rope_theta": 10000, "partial_rotary_factor": 0.5}}, 0.5, 10000},
		{"rope_parameters without type", map[string]any{"rope_parameters": map[string]any{"rope_theta": 20000}}, 0.25, 20000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig(neox(c.changes), "config.json")
			require.NoError(t, err)
			assert.Equal(t, c.pct, cfg.RotaryPct)
			assert.Equal(t, c.theta, cfg.RotaryBase)
		})
	}
	// An explicit JSON null for rope_scaling is accepted (Pythia's configs).
	_, err := ParseConfig([]byte(`{"model_type":"gpt_neox","vocab_size":100,"hidden_size":32,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128,"max_position_embeddings":64,"rope_scaling":null}`), "config.json")
	require.NoError(t, err)
}

func TestNeoDefaults(t *testing.T) {
	c, err := ParseConfig(neo(map[string]any{"intermediate_size": 100}), "config.json")
	require.NoError(t, err)
	assert.Equal(t, 100, c.IntermediateSize)
	assert.Equal(t, []string{"global", "local", "local"}, c.AttentionTypes)
	assert.Equal(t, modelconfig.ActGELUNew, c.Activation)
	assert.True(t, c.TieWordEmbeddings, "GPT-Neo always ties lm_head to wte")
	c, err = ParseConfig(neo(map[string]any{"activation_function": "gelu", "tie_word_embeddings": false}), "config.json")
	require.NoError(t, err)
	assert.Equal(t, modelconfig.ActGELU, c.Activation)
	assert.True(t, c.TieWordEmbeddings)
	assert.Equal(t, 128, c.IntermediateSize)
}

func TestActivationAliases(t *testing.T) {
	for name, want := range map[string]string{"gelu": modelconfig.ActGELU, "gelu_new": modelconfig.ActGELUNew, "gelu_pytorch_tanh": modelconfig.ActGELUNew, "gelu_fast": modelconfig.ActGELUNew} {
		c, err := ParseConfig(neox(map[string]any{"hidden_act": name}), "config.json")
		require.NoError(t, err, name)
		assert.Equal(t, want, c.Activation, name)
	}
}

// Each invalid config is rejected with a message naming the file and the
// problem.
func TestInvalidConfigs(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"invalid json", []byte(`{"model_type": "gpt_neox",`), "invalid JSON"},
		{"not an object", []byte(`[]`), "invalid JSON"},
		{"null", []byte(`null`), "must be a JSON object"},
		{"unknown model_type", neox(map[string]any{"model_type": "llama"}), `model_type "llama" is not supported; memscope supports "gpt_neo" (GPT-Neo) and "gpt_neox" (GPT-NeoX, Pythia)`},
		{"no model_type", neox(map[string]any{"model_type": nil}), "no model_type"},
		{"missing field", neox(map[string]any{"num_hidden_layers": nil}), "required field num_hidden_layers is missing"},
		{"string for int", neox(map[string]any{"hidden_size": "32"}), `hidden_size must be an integer, got "32"`},
		{"fractional int", neox(map[string]any{"hidden_size": 32.5}), "hidden_size must be an integer, got 32.5"},
		{"bool wrong type", neox(map[string]any{"use_parallel_residual": "yes"}), "use_parallel_residual must be true or false"},
		{"heads do not divide", neox(map[string]any{"num_attention_heads": 5}), "hidden size 32 is not divisible by the 5 attention heads"},
		{"zero layers", neox(map[string]any{"num_hidden_layers": 0}), "number of layers must be positive, got 0"},
		{"negative eps", neox(map[string]any{"layer_norm_eps": -1}), "layer norm epsilon must be positive"},
		{"unsupported activation", neox(map[string]any{"hidden_act": "relu"}), `hidden_act "relu" is not supported`},
		{"rope_scaling", neox(map[string]any{"rope_scaling": map[string]any{"type": "linear", "factor": 2}}), `rope_scaling {"factor":2,"type":"linear"} is not supported; memscope runs GPT-NeoX with plain rotary embeddings (rope_type "default")`},
		{"rope_type", neox(map[string]any{"rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 10000}}), `rope_parameters {"rope_theta":10000,"rope_type":"yarn"} is not supported`},
		{"rope extra parameter", neox(map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "factor": 2.0}}), "rope_parameters.factor is not supported"},
		{"rope_parameters not object", neox(map[string]any{"rope_parameters": 3}), "rope_parameters must be an object, got 3"},
		{"rope_scaling without type", neox(map[string]any{"rope_scaling": map[string]any{"factor": 2.0}}), `rope_scaling {"factor":2} is not supported`},
		{"rope_scaling dynamic", neox(map[string]any{"rope_scaling": map[string]any{"type": "dynamic", "factor": 2.0}}), `rope_scaling {"factor":2,"type":"dynamic"} is not supported`},
		{"rotary disagreement", neox(map[string]any{"rotary_pct": 0.25, "rope_parameters": map[string]any{"partial_rotary_factor": 0.5}}), "rotary_pct = 0.25 and rope_parameters.partial_rotary_factor = 0.5 disagree"},
		{"rotary_pct zero", neox(map[string]any{"rotary_pct": 0}), "rotary_pct must be in (0, 1]"},
		{"rotary dims odd", neox(map[string]any{"rotary_pct": 0.125}), "must be even"},
		{"neo attention count", neo(map[string]any{"num_layers": 4}), "attention_types expands to 3 layers but num_layers is 4"},
		{"neo attention type", neo(map[string]any{"attention_types": []any{[]any{[]string{"sparse"}, 3}}}), `attention type "sparse" is not supported`},
		{"neo attention shape", neo(map[string]any{"attention_types": []any{[]any{"global", 3}}}), "must be [[types...], repeats]"},
		{"neo attention missing", neo(map[string]any{"attention_types": nil}), "attention_types is missing"},
		{"neo window", neo(map[string]any{"window_size": 0}), "window_size must be positive"},
		{"neo missing heads", neo(map[string]any{"num_heads": nil}), "required field num_heads is missing"},
		{"neo activation", neo(map[string]any{"activation_function": "swish"}), `activation_function "swish" is not supported`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(c.data, "/models/x/config.json")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "/models/x/config.json")
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	_, err := LoadConfig(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	require.NoError(t, os.WriteFile(path, neox(nil), 0o644))
	_, err = LoadConfig(path)
	require.NoError(t, err)
}
