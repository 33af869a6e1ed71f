package modelconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

// Load reads and normalizes a config.json.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	return Parse(data, path)
}

// Parse normalizes the config.json bytes data; source names the file in
// errors.
func Parse(data []byte, source string) (Config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Config{}, fmt.Errorf("%s: invalid JSON: %v", source, err)
	}
	if raw == nil {
		return Config{}, fmt.Errorf("%s: config.json must be a JSON object", source)
	}
	f := fields{raw: raw, source: source}
	modelType := f.str("model_type", "")
	var (
		c   Config
		err error
	)
	switch modelType {
	case GPTNeoX:
		c, err = parseNeoX(&f)
	case GPTNeo:
		c, err = parseNeo(&f)
	case "":
		return Config{}, fmt.Errorf("%s: no model_type; memscope supports model_type %q (GPT-NeoX, Pythia) and %q (GPT-Neo)", source, GPTNeoX, GPTNeo)
	default:
		return Config{}, fmt.Errorf("%s: model_type %q is not supported; memscope supports %q (GPT-NeoX, Pythia) and %q (GPT-Neo)", source, modelType, GPTNeoX, GPTNeo)
	}
	if err == nil {
		err = f.err
	}
	if err != nil {
		return Config{}, err
	}
	c.ModelType = modelType
	if archs := f.strList("architectures"); len(archs) > 0 {
		c.Architecture = archs[0]
	} else if modelType == GPTNeoX {
		c.Architecture = "GPTNeoXForCausalLM"
	} else {
		c.Architecture = "GPTNeoForCausalLM"
	}
	c.BOSTokenID = f.optInt("bos_token_id", 0)
	c.EOSTokenID = f.optInt("eos_token_id", 0)
	c.TorchDType = f.str("torch_dtype", "")
	if c.TorchDType == "" {
		c.TorchDType = f.str("dtype", "") // transformers ≥ 5 writes "dtype"
	}
	if f.err != nil {
		return Config{}, f.err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

func parseNeoX(f *fields) (Config, error) {
	c := Config{
		VocabSize:         f.reqInt("vocab_size"),
		HiddenSize:        f.reqInt("hidden_size"),
		NumLayers:         f.reqInt("num_hidden_layers"),
		NumHeads:          f.reqInt("num_attention_heads"),
		IntermediateSize:  f.reqInt("intermediate_size"),
		MaxPositions:      f.reqInt("max_position_embeddings"),
		LayerNormEps:      f.optFloat("layer_norm_eps", 1e-5),
		ParallelResidual:  f.optBool("use_parallel_residual", true),
		TieWordEmbeddings: f.optBool("tie_word_embeddings", false),
		AttentionBias:     f.optBool("attention_bias", true),
	}
	act, err := activation(f, "hidden_act", ActGELU)
	if err != nil {
		return Config{}, err
	}
	c.Activation = act
	if f.err != nil {
		return Config{}, f.err
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
func neoxRotary(f *fields) (pct, base float64, err error) {
	type source struct {
		name string
		val  float64
	}
	var pcts, bases []source
	add := func(list *[]source, name string, g *fields) {
		if g.present(name) {
			*list = append(*list, source{g.prefix + name, g.reqFloat(name)})
		}
	}
	add(&pcts, "rotary_pct", f)
	add(&pcts, "partial_rotary_factor", f)
	add(&bases, "rotary_emb_base", f)
	add(&bases, "rope_theta", f)
	for _, key := range []string{"rope_parameters", "rope_scaling"} {
		if !f.present(key) {
			continue
		}
		var rp map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(f.raw[key]))
		dec.UseNumber()
		if err := dec.Decode(&rp); err != nil || rp == nil {
			return 0, 0, fmt.Errorf("%s: %s must be an object, got %s", f.source, key, compact(f.raw[key]))
		}
		g := &fields{raw: rp, source: f.source, prefix: key + "."}
		typ := g.str("rope_type", "")
		if typ == "" {
			typ = g.str("type", "") // older spelling
		}
		if typ == "" && key == "rope_parameters" {
			typ = "default"
		}
		if g.err != nil {
			return 0, 0, g.err
		}
		if typ != "default" {
			return 0, 0, fmt.Errorf("%s: %s %s is not supported; memscope runs GPT-NeoX with plain rotary embeddings (rope_type \"default\")", f.source, key, compact(f.raw[key]))
		}
		add(&pcts, "partial_rotary_factor", g)
		add(&bases, "rope_theta", g)
		for k := range rp {
			switch k {
			case "rope_type", "type", "partial_rotary_factor", "rope_theta":
			default:
				return 0, 0, fmt.Errorf("%s: %s.%s is not supported; memscope runs plain rotary embeddings (rope_type, rope_theta, partial_rotary_factor)", f.source, key, k)
			}
		}
		if g.err != nil {
			return 0, 0, g.err
		}
	}
	if f.err != nil {
		return 0, 0, f.err
	}
	pick := func(list []source, def float64) (float64, error) {
		if len(list) == 0 {
			return def, nil
		}
		for _, s := range list[1:] {
			if s.val != list[0].val {
				return 0, fmt.Errorf("%s: %s = %g and %s = %g disagree", f.source, list[0].name, list[0].val, s.name, s.val)
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

func parseNeo(f *fields) (Config, error) {
	c := Config{
		VocabSize:    f.reqInt("vocab_size"),
		HiddenSize:   f.reqInt("hidden_size"),
		NumLayers:    f.reqInt("num_layers"),
		NumHeads:     f.reqInt("num_heads"),
		MaxPositions: f.reqInt("max_position_embeddings"),
		LayerNormEps: f.optFloat("layer_norm_epsilon", 1e-5),
		WindowSize:   f.optInt("window_size", 256),
		// GPTNeoForCausalLM always ties lm_head to wte.
		TieWordEmbeddings: true,
		// Neo's q/k/v projections have no bias (out_proj has one); the
		// field describes NeoX's fused query_key_value and is false here.
		AttentionBias: false,
	}
	c.IntermediateSize = f.optInt("intermediate_size", 0)
	if c.IntermediateSize == 0 && f.err == nil {
		c.IntermediateSize = 4 * c.HiddenSize
	}
	act, err := activation(f, "activation_function", ActGELUNew)
	if err != nil {
		return Config{}, err
	}
	c.Activation = act
	if f.err != nil {
		return Config{}, f.err
	}
	c.AttentionTypes, err = expandAttentionTypes(f, c.NumLayers)
	return c, err
}

// expandAttentionTypes turns [[["global","local"],2]] into one type per
// layer, as GPTNeoConfig.expand_attention_types_params does.
func expandAttentionTypes(f *fields, numLayers int) ([]string, error) {
	raw, ok := f.raw["attention_types"]
	if !ok || isNull(raw) {
		return nil, fmt.Errorf("%s: attention_types is missing; GPT-Neo needs e.g. [[[\"global\", \"local\"], %d]]", f.source, numLayers/2)
	}
	var groups [][]json.RawMessage
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("%s: attention_types must look like [[[\"global\", \"local\"], N]]: %v", f.source, err)
	}
	var out []string
	for _, g := range groups {
		var types []string
		var reps int
		if len(g) != 2 || json.Unmarshal(g[0], &types) != nil || json.Unmarshal(g[1], &reps) != nil || len(types) == 0 || reps < 0 {
			return nil, fmt.Errorf("%s: attention_types entry %s must be [[types...], repeats]", f.source, compactList(g))
		}
		for _, t := range types {
			if t != AttentionGlobal && t != AttentionLocal {
				return nil, fmt.Errorf("%s: attention type %q is not supported (want %q or %q)", f.source, t, AttentionGlobal, AttentionLocal)
			}
		}
		if reps > 1<<20 || len(types) > 1<<20 || len(out)+reps*len(types) > 1<<20 {
			return nil, fmt.Errorf("%s: attention_types expands to too many layers", f.source)
		}
		for range reps {
			out = append(out, types...)
		}
	}
	if len(out) != numLayers {
		return nil, fmt.Errorf("%s: attention_types expands to %d layers but num_layers is %d", f.source, len(out), numLayers)
	}
	return out, nil
}

// activation maps an HF activation name to the two memscope computes.
// gelu_pytorch_tanh and gelu_fast are the same tanh approximation as
// gelu_new, written differently.
func activation(f *fields, key, def string) (string, error) {
	name := f.str(key, def)
	switch name {
	case ActGELU:
		return ActGELU, nil
	case ActGELUNew, "gelu_pytorch_tanh", "gelu_fast":
		return ActGELUNew, nil
	}
	if f.err != nil {
		return "", f.err
	}
	return "", fmt.Errorf("%s: %s %q is not supported; memscope computes %q (exact, erf) and %q (tanh approximation)", f.source, key, name, ActGELU, ActGELUNew)
}

// Validate checks the normalized config for values the engines cannot run.
func (c Config) Validate() error {
	pos := []struct {
		name string
		v    int
	}{
		{"vocab size", c.VocabSize}, {"hidden size", c.HiddenSize}, {"number of layers", c.NumLayers},
		{"number of attention heads", c.NumHeads}, {"intermediate size", c.IntermediateSize},
		{"max position embeddings", c.MaxPositions},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("%s must be positive, got %d", p.name, p.v)
		}
	}
	if c.HiddenSize%c.NumHeads != 0 {
		return fmt.Errorf("hidden size %d is not divisible by the %d attention heads", c.HiddenSize, c.NumHeads)
	}
	if !(c.LayerNormEps > 0) || math.IsInf(c.LayerNormEps, 0) {
		return fmt.Errorf("layer norm epsilon must be positive, got %g", c.LayerNormEps)
	}
	switch c.ModelType {
	case GPTNeoX:
		if !(c.RotaryPct > 0 && c.RotaryPct <= 1) {
			return fmt.Errorf("rotary_pct must be in (0, 1], got %g", c.RotaryPct)
		}
		if c.RotaryDims()%2 != 0 {
			return fmt.Errorf("rotary dims int(head_dim %d × rotary_pct %g) = %d must be even", c.HeadDim(), c.RotaryPct, c.RotaryDims())
		}
		if !(c.RotaryBase > 0) || math.IsInf(c.RotaryBase, 0) {
			return fmt.Errorf("rotary base must be positive, got %g", c.RotaryBase)
		}
	case GPTNeo:
		if c.WindowSize <= 0 {
			for _, t := range c.AttentionTypes {
				if t == AttentionLocal {
					return fmt.Errorf("window_size must be positive for local attention, got %d", c.WindowSize)
				}
			}
		}
		if len(c.AttentionTypes) != c.NumLayers {
			return fmt.Errorf("%d attention types for %d layers", len(c.AttentionTypes), c.NumLayers)
		}
	}
	return nil
}

// fields reads typed values out of a JSON object, remembering the first
// error so that callers can read many fields and check once.
type fields struct {
	raw    map[string]json.RawMessage
	source string
	prefix string
	err    error
}

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

func (f *fields) present(key string) bool {
	r, ok := f.raw[key]
	return ok && !isNull(r)
}

func (f *fields) fail(key, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: %s%s must be %s, got %s", f.source, f.prefix, key, want, compact(f.raw[key]))
	}
}

func (f *fields) number(key string) (json.Number, bool) {
	// json.Number also accepts a quoted numeral; config values must be
	// JSON numbers.
	if r := bytes.TrimSpace(f.raw[key]); len(r) == 0 || r[0] == '"' {
		return "", false
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(f.raw[key]))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", false
	}
	return n, true
}

func (f *fields) reqInt(key string) int {
	if !f.present(key) {
		if f.err == nil {
			f.err = fmt.Errorf("%s: required field %s%s is missing", f.source, f.prefix, key)
		}
		return 0
	}
	return f.optInt(key, 0)
}

func (f *fields) optInt(key string, def int) int {
	if !f.present(key) {
		return def
	}
	n, ok := f.number(key)
	if !ok {
		f.fail(key, "an integer")
		return 0
	}
	v, err := n.Int64()
	if err != nil {
		// Accept 2048.0 (some exporters write floats) but not 2048.5.
		fv, ferr := n.Float64()
		if ferr != nil || fv != math.Trunc(fv) || math.Abs(fv) > 1<<53 {
			f.fail(key, "an integer")
			return 0
		}
		v = int64(fv)
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		f.fail(key, "an integer of sane size")
		return 0
	}
	return int(v)
}

func (f *fields) reqFloat(key string) float64 {
	if !f.present(key) {
		if f.err == nil {
			f.err = fmt.Errorf("%s: required field %s%s is missing", f.source, f.prefix, key)
		}
		return 0
	}
	return f.optFloat(key, 0)
}

func (f *fields) optFloat(key string, def float64) float64 {
	if !f.present(key) {
		return def
	}
	n, ok := f.number(key)
	if !ok {
		f.fail(key, "a number")
		return 0
	}
	v, err := n.Float64()
	if err != nil {
		f.fail(key, "a number")
		return 0
	}
	return v
}

func (f *fields) optBool(key string, def bool) bool {
	if !f.present(key) {
		return def
	}
	var b bool
	if err := json.Unmarshal(f.raw[key], &b); err != nil {
		f.fail(key, "true or false")
		return def
	}
	return b
}

func (f *fields) str(key, def string) string {
	if !f.present(key) {
		return def
	}
	var s string
	if err := json.Unmarshal(f.raw[key], &s); err != nil {
		f.fail(key, "a string")
		return def
	}
	return s
}

func (f *fields) strList(key string) []string {
	if !f.present(key) {
		return nil
	}
	var s []string
	if err := json.Unmarshal(f.raw[key], &s); err != nil {
		f.fail(key, "a list of strings")
		return nil
	}
	return s
}

// compact renders a raw JSON value for a message, shortened.
func compact(r json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, r) != nil {
		return strings.TrimSpace(string(r))
	}
	s := b.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func compactList(rs []json.RawMessage) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = compact(r)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
