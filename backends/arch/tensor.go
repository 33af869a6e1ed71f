package arch

import (
	"fmt"
	"math"
)

// Role is what a parameter is to an engine, whatever its HF name. Shapes
// are row-major with nn.Linear's [out, in] layout for matrices; D is the
// hidden size, I the MLP width, V the vocabulary, P max_positions.
type Role string

// Parameter roles.
const (
	Embed           Role = "embed"             // [V, D] token embeddings
	PositionEmbed   Role = "position_embed"    // [P, D] learned positions (Settings.LearnedPositions)
	AttnNormWeight  Role = "attn_norm.weight"  // [D] layer norm before attention
	AttnNormBias    Role = "attn_norm.bias"    // [D]
	MLPNormWeight   Role = "mlp_norm.weight"   // [D] layer norm before the MLP
	MLPNormBias     Role = "mlp_norm.bias"     // [D]
	QKVWeight       Role = "qkv.weight"        // [3D, D]: per head, head_dim rows of q, then k, then v (GPT-NeoX's query_key_value layout)
	QKVBias         Role = "qkv.bias"          // [3D], same order; absent when the architecture has none
	AttnOutWeight   Role = "attn_out.weight"   // [D, D] attention output projection
	AttnOutBias     Role = "attn_out.bias"     // [D]; absent when the architecture has none
	MLPInWeight     Role = "mlp_in.weight"     // [I, D]
	MLPInBias       Role = "mlp_in.bias"       // [I]
	MLPOutWeight    Role = "mlp_out.weight"    // [D, I]
	MLPOutBias      Role = "mlp_out.bias"      // [D]
	FinalNormWeight Role = "final_norm.weight" // [D]
	FinalNormBias   Role = "final_norm.bias"   // [D]
	Unembed         Role = "unembed"           // [V, D]; absent when tied (Settings.TiedUnembed: use Embed)
)

// Layout says how a tensor is assembled from its HF sources.
type Layout int

const (
	// AsStored: one source, its values in stored order.
	AsStored Layout = iota
	// QKVPerHead: three [D, D] sources q, k, v whose rows are interleaved
	// head by head into the QKVWeight layout (GPT-Neo's separate
	// projections).
	QKVPerHead
)

// Init says how the random-weight builder fills a tensor (as HF
// initializes: normal with std 0.02, layer norms 1 and 0).
type Init int

const (
	InitNormal Init = iota // normal, std 0.02 (weights and biases)
	InitOnes               // layer-norm weights
	InitZeros              // layer-norm biases
)

// Tensor is one parameter of the model.
type Tensor struct {
	Role    Role
	Block   int      // block index; -1 for model-level tensors
	Shape   []int    // engine layout
	Sources []string // HF tensor names it is read from (see Layout)
	Layout  Layout
	Heads   int // attention heads, for QKVPerHead
	Init    Init
}

// Elements is the number of values.
func (t Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func (t Tensor) String() string {
	if t.Block < 0 {
		return string(t.Role)
	}
	return fmt.Sprintf("block %d %s", t.Block, t.Role)
}

// tensorList builds a tensor map in order.
type tensorList []Tensor

func (l *tensorList) add(role Role, block int, init Init, source string, shape ...int) {
	*l = append(*l, Tensor{Role: role, Block: block, Shape: shape, Sources: []string{source}, Init: init})
}

// linear adds a weight [out, in] and, with bias, its bias [out].
func (l *tensorList) linear(w, b Role, block int, prefix string, out, in int, bias bool) {
	l.add(w, block, InitNormal, prefix+".weight", out, in)
	if bias {
		l.add(b, block, InitNormal, prefix+".bias", out)
	}
}

// norm adds a layer norm's weight and bias [d].
func (l *tensorList) norm(w, b Role, block int, prefix string, d int) {
	l.add(w, block, InitOnes, prefix+".weight", d)
	l.add(b, block, InitZeros, prefix+".bias", d)
}

// RotaryTables returns the cos and sin tables [positions][dims/2] the way
// HF's rotary embedding computes them in float32: inv_freq[i] =
// 1/base^(2i/dims), angle = position·inv_freq[i].
func RotaryTables(dims int, base float64, positions int) (cos, sin []float32) {
	half := dims / 2
	if half == 0 {
		return nil, nil
	}
	inv := make([]float32, half)
	for i := range inv {
		e := float32(2*i) / float32(dims)
		inv[i] = 1 / float32(math.Pow(base, float64(e)))
	}
	cos = make([]float32, positions*half)
	sin = make([]float32, positions*half)
	for p := 0; p < positions; p++ {
		for i, f := range inv {
			a := float32(p) * f
			cos[p*half+i] = float32(math.Cos(float64(a)))
			sin[p*half+i] = float32(math.Sin(float64(a)))
		}
	}
	return cos, sin
}
