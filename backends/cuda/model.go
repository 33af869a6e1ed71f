// Package cuda is memscope's GPU engine: GPT-NeoX (Pythia) and GPT-Neo
// forward passes on a gpu.Device — an NVIDIA GPU through the driver API,
// NVRTC and cuBLAS (backends/cuda/driver, pure Go), or the CPU emulator
// that runs the same kernels in tests (backends/cuda/emu). *Model
// implements engine.Engine: teacher-forced scoring, greedy generation
// with a KV cache on the device, raw logits and hidden states, under
// attention short-circuit and zero-ablation.
//
// Weights live on the device in the compute dtype (float32, float16 or
// bfloat16); matrix products accumulate in float32 (cuBLAS
// CUBLAS_COMPUTE_32F) and the residual stream, attention and every
// reduction stay float32. Only token ids go up and only the statistics a
// request needs come back (log-probs, entropies, argmax), except for
// Logits and HiddenStates.
package cuda

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
)

// Options tune a loaded model.
type Options struct {
	// DType is the compute dtype: "float32", "float16" or "bfloat16"; ""
	// means the checkpoint's own (config.json torch_dtype; float32 when
	// it names none).
	DType string
	// MaxBatchTokens bounds the tokens of one forward pass; 0 means 8192.
	MaxBatchTokens int
	// MaxCacheBytes bounds the KV cache of one Generate group; 0 means a
	// quarter of the device memory free after the weights.
	MaxCacheBytes int64
	// AllowNonFiniteWeights loads weights that hold NaN or ±Inf (listed by
	// NonFiniteWeights); without it such a checkpoint is refused
	// (engine.NonFiniteWeightsError), as the numerics policy says.
	AllowNonFiniteWeights bool
}

const (
	defaultMaxBatchTokens = 8192
	// unembedRows bounds the rows of one unembedding product.
	unembedRows = 512
	// maxHeadDim is the widest head the attention kernel takes.
	maxHeadDim = 128
)

var _ engine.Engine = (*Model)(nil)

// linear is a weight [out, in] (nn.Linear layout) and its bias (0: none).
type linear struct {
	w, b    gpu.Ptr
	in, out int
}

type layerNorm struct{ w, b gpu.Ptr }

type block struct {
	ln1, ln2 layerNorm
	// qkv projects to [3D] laid out per head as (q, k, v) blocks of
	// headDim (GPT-NeoX's order; GPT-Neo's q, k, v are interleaved at load).
	qkv, dense, fc1, fc2 linear
	local                bool // GPT-Neo local attention
}

// Model is a loaded model on one device. Its methods may be called from
// several goroutines; requests run one at a time.
type Model struct {
	mu     sync.Mutex
	closed bool
	dev    gpu.Device
	cfg    modelconfig.Config
	dt     gpu.DType
	maxTok int
	maxKV  int64
	params int64

	allocs  []gpu.Ptr // every weight buffer, for Close
	embed   gpu.Ptr   // [V, D]
	posEmb  gpu.Ptr   // GPT-Neo [P, D]; 0 for NeoX
	blocks  []block
	lnF     layerNorm
	unembed gpu.Ptr // [V, D]; aliases embed when tied

	rotDims  int
	cos, sin gpu.Ptr // [MaxPositions][rotDims/2] float32; a 1-float dummy without rotary
	scale    float32 // attention score scale
	act      int32   // 1 exact GELU, 2 tanh GELU

	ws workspace

	nonFiniteWeights []engine.NonFiniteTensor
}

// NonFiniteWeights lists the weight tensors holding NaN or ±Inf (loaded
// only with Options.AllowNonFiniteWeights).
func (m *Model) NonFiniteWeights() []engine.NonFiniteTensor { return m.nonFiniteWeights }

// Config returns the model's normalized configuration.
func (m *Model) Config() modelconfig.Config { return m.cfg }

// DType is the compute dtype in use ("float32", "float16", "bfloat16").
func (m *Model) DType() string { return m.dt.Name() }

// Parameters is the number of weights the checkpoint holds.
func (m *Model) Parameters() int64 { return m.params }

// Device is the device the model runs on.
func (m *Model) Device() gpu.Device { return m.dev }

var errClosed = errors.New("cuda engine: the model is closed")

func (m *Model) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	return nil
}

// Close frees the model's device memory (not the device).
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var first error
	for _, p := range m.allocs {
		if err := m.dev.Free(p); err != nil && first == nil {
			first = err
		}
	}
	m.allocs = nil
	if err := m.ws.free(m.dev); err != nil && first == nil {
		first = err
	}
	return first
}

// Load reads a Hugging Face model folder onto dev in the compute dtype.
func Load(dev gpu.Device, dir string, opts Options) (*Model, error) {
	ck, err := checkpoint.Open(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	m, err := newModel(dev, ck.Config, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := m.fits(ck); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	l := &loader{m: m, ck: ck}
	switch ck.Config.ModelType {
	case modelconfig.GPTNeoX:
		l.neox()
	case modelconfig.GPTNeo:
		l.neo()
	}
	if l.err == nil && len(l.nonFinite) > 0 && !opts.AllowNonFiniteWeights {
		l.err = &engine.NonFiniteWeightsError{Tensors: l.nonFinite}
	}
	m.nonFiniteWeights = l.nonFinite
	if l.err == nil {
		l.err = m.uploadRotary()
	}
	if l.err != nil {
		m.Close()
		return nil, fmt.Errorf("load %s: %w", dir, l.err)
	}
	for _, t := range ck.Tensors() {
		n := int64(1)
		for _, d := range t.Shape {
			n *= int64(d)
		}
		m.params += n
	}
	if err := m.planCache(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// planCache sets the default KV-cache budget, once the weights are on the
// device: a quarter of the memory left.
func (m *Model) planCache() error {
	if m.maxKV > 0 {
		return nil
	}
	free, _, err := m.dev.MemInfo()
	if err != nil {
		return err
	}
	m.maxKV = int64(free / 4)
	return nil
}

func newModel(dev gpu.Device, cfg modelconfig.Config, opts Options) (*Model, error) {
	if err := arch.Validate(cfg); err != nil {
		return nil, err
	}
	switch cfg.ModelType {
	case modelconfig.GPTNeoX, modelconfig.GPTNeo:
	default:
		return nil, fmt.Errorf("model_type %q is not supported by the cuda engine (it runs %s and %s)", cfg.ModelType, modelconfig.GPTNeoX, modelconfig.GPTNeo)
	}
	if opts.MaxBatchTokens < 0 || opts.MaxCacheBytes < 0 {
		return nil, fmt.Errorf("cuda engine options: MaxBatchTokens and MaxCacheBytes must be ≥ 0")
	}
	if hd := cfg.HeadDim(); hd > maxHeadDim {
		return nil, fmt.Errorf("head dimension %d: the cuda engine's attention kernel takes at most %d", hd, maxHeadDim)
	}
	name := opts.DType
	if name == "" {
		name = cfg.TorchDType
		if name == "" {
			name = "float32"
		}
	}
	dt, err := gpu.ParseDType(name)
	if err != nil {
		return nil, fmt.Errorf("compute dtype: %w", err)
	}
	m := &Model{dev: dev, cfg: cfg, dt: dt, maxTok: opts.MaxBatchTokens, maxKV: opts.MaxCacheBytes}
	if m.maxTok == 0 {
		m.maxTok = defaultMaxBatchTokens
	}
	switch cfg.Activation {
	case modelconfig.ActGELU:
		m.act = 1
	case modelconfig.ActGELUNew:
		m.act = 2
	default:
		return nil, fmt.Errorf("activation %q is not supported (want %s or %s)", cfg.Activation, modelconfig.ActGELU, modelconfig.ActGELUNew)
	}
	if cfg.ModelType == modelconfig.GPTNeoX {
		// HF scales scores by head_dim**-0.5 (a Python float) on float32.
		m.scale = float32(math.Pow(float64(cfg.HeadDim()), -0.5))
		m.rotDims = cfg.RotaryDims()
	} else {
		m.scale = 1 // GPT-Neo does not scale attention scores
	}
	return m, nil
}

// fits checks, before anything is uploaded, that the weights fit the
// device's free memory with room for activations.
func (m *Model) fits(ck *checkpoint.Checkpoint) error {
	var n int64
	for _, t := range ck.Tensors() {
		e := int64(1)
		for _, d := range t.Shape {
			e *= int64(d)
		}
		n += e
	}
	need := n * int64(m.dt.Size())
	free, total, err := m.dev.MemInfo()
	if err != nil {
		return err
	}
	// activations of one full batch: a few [tokens, max(3D, I)] float32 buffers
	act := int64(m.maxTok) * int64(max(3*m.cfg.HiddenSize, m.cfg.IntermediateSize)) * 4 * 4
	if uint64(need+act) > free {
		return fmt.Errorf("the model needs %.1f GiB of device memory in %s (%d parameters) plus about %.1f GiB for activations, but the device has %.1f GiB free of %.1f GiB; try --dtype float16 or bfloat16, or a larger GPU",
			gib(need), m.dt.Name(), n, gib(act), gib(int64(free)), gib(int64(total)))
	}
	return nil
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// uploadRotary uploads the rotary cos/sin tables (a 1-float dummy each
// when nothing is rotated: kernels take a pointer either way).
func (m *Model) uploadRotary() error {
	cos, sin := arch.RotaryTables(m.cfg.RotaryDims(), m.cfg.RotaryBase, m.cfg.MaxPositions)
	if cos == nil {
		cos, sin = []float32{0}, []float32{0}
	}
	var err error
	if m.cos, err = m.uploadF32(cos); err != nil {
		return err
	}
	m.sin, err = m.uploadF32(sin)
	return err
}

func (m *Model) uploadF32(v []float32) (gpu.Ptr, error) {
	p, err := m.dev.Alloc(int64(4 * len(v)))
	if err != nil {
		return 0, err
	}
	m.allocs = append(m.allocs, p)
	return p, m.dev.Upload(p, f32Bytes(v))
}

// f32Bytes is the little-endian encoding of v.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func i32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func bytesF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
