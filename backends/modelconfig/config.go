// Package modelconfig reads a Hugging Face config.json for the
// architectures memscope runs (GPT-NeoX / Pythia and GPT-Neo) into one
// normalized Config.
package modelconfig

import "math"

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

// RotaryTables returns GPT-NeoX's rotary cos and sin tables,
// [MaxPositions][RotaryDims/2] row-major, built the way HF's
// GPTNeoXRotaryEmbedding does in float32: inv_freq = 1/(base^(2i/dim)),
// angle = pos·inv_freq (the cosine and sine rounded from float64). Both
// are nil when nothing is rotated.
func (c Config) RotaryTables() (cos, sin []float32) {
	dims := c.RotaryDims()
	half := dims / 2
	if half == 0 {
		return nil, nil
	}
	inv := make([]float32, half)
	for i := range inv {
		e := float32(2*i) / float32(dims)
		inv[i] = 1 / float32(math.Pow(c.RotaryBase, float64(e)))
	}
	P := c.MaxPositions
	cos, sin = make([]float32, P*half), make([]float32, P*half)
	for p := 0; p < P; p++ {
		for i, f := range inv {
			a := float64(float32(p) * f)
			cos[p*half+i] = float32(math.Cos(a))
			sin[p*half+i] = float32(math.Sin(a))
		}
	}
	return cos, sin
}
