// Package modelconfig is the normalized configuration every architecture's
// config.json is read into (Config), and the typed reader the
// architectures parse config.json with (Fields). Which fields a model type
// has, and their defaults, is each architecture's business: backends/arch
// parses, validates and derives settings, one file per architecture.
package modelconfig

import (
	"fmt"
	"math"
)

// Model types (config.json "model_type").
const (
	GPTNeoX = "gpt_neox"
	GPTNeo  = "gpt_neo"
)

// Attention types of GPT-Neo layers.
const (
	AttentionGlobal = "global"
	AttentionLocal  = "local"
)

// Activations (names as HF writes them).
const (
	ActGELU    = "gelu"     // exact, erf-based
	ActGELUNew = "gelu_new" // tanh approximation
)

// Config is the normalized configuration of a model, whatever form its
// config.json had.
type Config struct {
	ModelType    string // GPTNeoX or GPTNeo
	Architecture string // architectures[0], e.g. "GPTNeoXForCausalLM"

	VocabSize        int
	HiddenSize       int
	NumLayers        int
	NumHeads         int
	IntermediateSize int // GPT-Neo's null becomes 4 × HiddenSize
	MaxPositions     int
	LayerNormEps     float64
	Activation       string // ActGELU or ActGELUNew (others are rejected)

	// GPT-NeoX
	RotaryPct         float64 // fraction of each head's dims that are rotated
	RotaryBase        float64
	ParallelResidual  bool
	TieWordEmbeddings bool // NeoX: normally false (embed_out); Neo: always true
	AttentionBias     bool // NeoX query_key_value / dense carry biases

	// GPT-Neo
	AttentionTypes []string // one per layer: AttentionGlobal or AttentionLocal
	WindowSize     int

	BOSTokenID int
	EOSTokenID int
	TorchDType string // "float32", "float16", "bfloat16" as declared (informational)
}

// HeadDim is the per-head width.
func (c Config) HeadDim() int { return c.HiddenSize / c.NumHeads }

// RotaryDims is int(head_dim × rotary_pct), as HF computes it.
func (c Config) RotaryDims() int { return int(float64(c.HeadDim()) * c.RotaryPct) }

// Validate checks what every architecture needs: positive sizes, heads
// that divide the hidden size, a usable layer-norm epsilon. Each
// architecture adds its own checks (arch.Validate runs both).
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
	return nil
}
