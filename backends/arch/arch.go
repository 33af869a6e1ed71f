// Package arch knows each model architecture memscope runs, one file per
// architecture that reads like its Hugging Face reference: how its
// config.json is parsed and checked, how its tensors are named and laid
// out, and the settings an engine derives from the configuration
// (attention scale, rotary tables, local windows, residual order,
// activation). Engines, the weight loader and the random-weight builder
// ask this package; none of them names an HF tensor or tests a model type.
//
// Adding an architecture is one file that registers an *Arch (see neox.go)
// plus tiny fixtures made with transformers; engines that implement the
// Settings it uses run it unchanged.
package arch

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/memscope/memscope/backends/modelconfig"
)

// Arch is one architecture (one config.json model_type).
type Arch struct {
	ModelType     string   // config.json model_type: "gpt_neox"
	Architectures []string // HF classes it loads: "GPTNeoXForCausalLM"
	Name          string   // for messages: "GPT-NeoX, Pythia"

	// Parse reads the architecture's own fields of config.json (sizes,
	// defaults); the model-independent ones (architectures, token ids,
	// dtype) are read by ParseConfig.
	Parse func(f *modelconfig.Fields) (modelconfig.Config, error)
	// Check validates what only this architecture needs (beyond
	// Config.Validate).
	Check func(c modelconfig.Config) error
	// Tensors lists the parameters in the order the random-weight builder
	// draws them; see Tensor.
	Tensors func(c modelconfig.Config) []Tensor
	// Settings derives what an engine computes with besides the weights.
	Settings func(c modelconfig.Config) Settings
}

// Settings are an architecture's derived settings for one configuration.
type Settings struct {
	// AttnScale multiplies Q·Kᵀ before the softmax: head_dim^-0.5 for
	// GPT-NeoX (a Python float applied in float32), 1 for GPT-Neo, which
	// does not scale attention scores.
	AttnScale float32
	// RotaryDims is how many leading dims of each query and key head are
	// rotated (rotate-half convention, RotaryTables); 0 for none.
	RotaryDims int
	RotaryBase float64
	// LearnedPositions: a [max_positions, hidden] PositionEmbed table is
	// added to the token embeddings (GPT-Neo).
	LearnedPositions bool
	// Window is, per block, how many positions a query sees (itself and
	// the Window-1 before it) for local attention; 0 for global causal
	// attention.
	Window []int
	// ParallelResidual: x + attn(ln1(x)) + mlp(ln2(x)) (GPT-NeoX's
	// default); otherwise sequential: h = x + attn(ln1(x)), h + mlp(ln2(h)).
	ParallelResidual bool
	// Activation of the MLP: modelconfig.ActGELU or ActGELUNew.
	Activation string
	// TiedUnembed: the output projection is the Embed table (no Unembed
	// tensor).
	TiedUnembed bool
}

var registry = map[string]*Arch{}

// Register adds an architecture; each architecture's file calls it from
// init. A second registration of one model type panics (a programming
// error, found by any test).
func Register(a *Arch) {
	if _, dup := registry[a.ModelType]; dup {
		panic("arch: model_type " + a.ModelType + " registered twice")
	}
	registry[a.ModelType] = a
}

// All lists the registered architectures, sorted by model type.
func All() []*Arch {
	out := make([]*Arch, 0, len(registry))
	for _, a := range registry {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModelType < out[j].ModelType })
	return out
}

// Lookup finds the architecture of a model type.
func Lookup(modelType string) (*Arch, bool) {
	a, ok := registry[modelType]
	return a, ok
}

// For finds the architecture of a configuration, with an error that lists
// the supported ones.
func For(c modelconfig.Config) (*Arch, error) {
	if a, ok := registry[c.ModelType]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("model_type %q is not supported; memscope supports %s", c.ModelType, supported())
}

// Architectures lists the HF classes of every registered architecture (a
// backend's Capabilities.Architectures).
func Architectures() []string {
	var out []string
	for _, a := range All() {
		out = append(out, a.Architectures...)
	}
	return out
}

func supported() string {
	var parts []string
	for _, a := range All() {
		parts = append(parts, fmt.Sprintf("%q (%s)", a.ModelType, a.Name))
	}
	if len(parts) > 1 {
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	return strings.Join(parts, "")
}

// LoadConfig reads and normalizes a config.json.
func LoadConfig(path string) (modelconfig.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return modelconfig.Config{}, fmt.Errorf("read model config: %w", err)
	}
	return ParseConfig(data, path)
}

// ParseConfig normalizes config.json bytes; source names the file in
// errors. The model type picks the architecture that reads the rest.
func ParseConfig(data []byte, source string) (modelconfig.Config, error) {
	f, err := modelconfig.Decode(data, source)
	if err != nil {
		return modelconfig.Config{}, err
	}
	modelType := f.Str("model_type", "")
	if err := f.Err(); err != nil {
		return modelconfig.Config{}, err
	}
	a, ok := registry[modelType]
	switch {
	case modelType == "":
		return modelconfig.Config{}, fmt.Errorf("%s: no model_type; memscope supports model_type %s", source, supported())
	case !ok:
		return modelconfig.Config{}, fmt.Errorf("%s: model_type %q is not supported; memscope supports %s", source, modelType, supported())
	}
	c, err := a.Parse(f)
	if err == nil {
		err = f.Err()
	}
	if err != nil {
		return modelconfig.Config{}, err
	}
	c.ModelType = modelType
	if archs := f.StrList("architectures"); len(archs) > 0 {
		c.Architecture = archs[0]
	} else {
		c.Architecture = a.Architectures[0]
	}
	c.BOSTokenID = f.OptInt("bos_token_id", 0)
	c.EOSTokenID = f.OptInt("eos_token_id", 0)
	c.TorchDType = f.Str("torch_dtype", "")
	if c.TorchDType == "" {
		c.TorchDType = f.Str("dtype", "") // transformers ≥ 5 writes "dtype"
	}
	if err := f.Err(); err != nil {
		return modelconfig.Config{}, err
	}
	if err := Validate(c); err != nil {
		return modelconfig.Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// Validate checks a normalized configuration for values no engine can
// run: the common checks, then the architecture's own.
func Validate(c modelconfig.Config) error {
	a, err := For(c)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return a.Check(c)
}

// Parameters counts the model's parameters as HF's num_parameters does
// (tied matrices once).
func Parameters(c modelconfig.Config) (int64, error) {
	a, err := For(c)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, t := range a.Tensors(c) {
		n += int64(t.Elements())
	}
	return n, nil
}
