package cpu

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
)

// Options tune a loaded model.
type Options struct {
	// Threads is how many CPU threads compute: OpenBLAS's thread count and
	// the number of goroutines for element-wise work (never both at once).
	// 0 means OPENBLAS_NUM_THREADS when set, else GOMAXPROCS (every CPU the
	// process may use).
	Threads int
	// MaxBatchTokens bounds how many tokens one forward pass holds
	// (activations and KV cache); bigger requests are split into groups of
	// whole sequences. 0 means 4096. A single longer sequence still runs.
	MaxBatchTokens int
	// MaxCacheBytes bounds the KV cache of one Generate group: prefixes are
	// generated together (one decode step feeds them all) as long as their
	// caches fit. 0 means 1 GiB.
	MaxCacheBytes int64
	// AllowNonFiniteWeights loads weights that hold NaN or ±Inf (listed by
	// NonFiniteWeights) instead of refusing them with an
	// *engine.NonFiniteWeightsError.
	AllowNonFiniteWeights bool
}

const (
	defaultMaxBatchTokens = 4096
	defaultMaxCacheBytes  = 1 << 30
	// unembedRows bounds the rows of one unembedding product (rows × vocab
	// floats of scratch).
	unembedRows = 256
)

var _ engine.Engine = (*Model)(nil)

// goThreading selects Go-side threading over single-threaded OpenBLAS
// (see the package documentation).
var goThreading = os.Getenv("MEMSCOPE_BLAS_THREADING") != "openblas"

// linear is y = x·Wᵀ + b with W stored [out, in] (the nn.Linear layout).
type linear struct {
	w       []float32
	b       []float32 // nil: no bias
	in, out int
}

type layerNorm struct{ w, b []float32 }

type block struct {
	ln1, ln2 layerNorm
	// qkv projects to [3D] laid out per head as (q, k, v) blocks of
	// headDim: GPT-NeoX's query_key_value order; GPT-Neo's separate
	// projections are interleaved into it at load.
	qkv   linear
	dense linear // attention output projection
	fc1   linear // MLP up
	fc2   linear // MLP down
	local bool   // GPT-Neo local (windowed) attention
}

// Model is a loaded GPT-NeoX or GPT-Neo model. Its methods may be called
// from several goroutines; requests run one at a time.
type Model struct {
	mu      sync.Mutex
	closed  bool
	cfg     modelconfig.Config
	threads int
	maxTok  int
	maxKV   int64
	blas    blas.Float32Level3
	// goThreads: OpenBLAS runs single-threaded and the engine splits
	// matrix products and attention over its own goroutines.
	goThreads bool

	arena   *weightArena // holds the weights below, off the Go heap
	embed   []float32    // [V, D]
	posEmb  []float32    // GPT-Neo learned positions [P, D]; nil for NeoX
	blocks  []block
	lnF     layerNorm
	unembed []float32 // [V, D]; aliases embed when tied

	// rotary tables [MaxPositions][rotDims/2] (GPT-NeoX)
	rotDims  int
	cos, sin []float32

	attnScale float32
	act       int // actGELU or actGELUTanh

	nonFiniteWeights []engine.NonFiniteTensor
}

// Config returns the model's normalized configuration.
func (m *Model) Config() modelconfig.Config { return m.cfg }

// Threads is the number of compute threads in use.
func (m *Model) Threads() int { return m.threads }

// Close releases the weights. Later calls return an error.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.embed, m.posEmb, m.blocks, m.unembed, m.cos, m.sin = nil, nil, nil, nil, nil, nil
	m.arena.free()
	return nil
}

var errClosed = errors.New("cpu engine: the model is closed")

// lock takes the model for one request.
func (m *Model) lock() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	return nil
}

// newModel prepares everything that does not depend on the weights.
func newModel(cfg modelconfig.Config, opts Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.ModelType {
	case modelconfig.GPTNeoX, modelconfig.GPTNeo:
	default:
		return nil, fmt.Errorf("model_type %q is not supported by the cpu engine (it runs %s and %s)", cfg.ModelType, modelconfig.GPTNeoX, modelconfig.GPTNeo)
	}
	m := &Model{cfg: cfg, maxTok: opts.MaxBatchTokens, arena: &weightArena{}}
	// A model dropped without Close gives its weights back when collected
	// (every method holds m until it returns, so none is still reading).
	runtime.AddCleanup(m, func(a *weightArena) { a.free() }, m.arena)
	switch cfg.Activation {
	case modelconfig.ActGELU:
		m.act = actGELU
	case modelconfig.ActGELUNew:
		m.act = actGELUTanh
	default:
		return nil, fmt.Errorf("activation %q is not supported (want %s or %s)", cfg.Activation, modelconfig.ActGELU, modelconfig.ActGELUNew)
	}
	if m.maxTok <= 0 {
		m.maxTok = defaultMaxBatchTokens
	}
	m.maxKV = opts.MaxCacheBytes
	if m.maxKV <= 0 {
		m.maxKV = defaultMaxCacheBytes
	}
	if opts.MaxBatchTokens < 0 || opts.Threads < 0 || opts.MaxCacheBytes < 0 {
		return nil, fmt.Errorf("cpu engine options: Threads, MaxBatchTokens and MaxCacheBytes must be ≥ 0")
	}
	m.threads = opts.Threads
	if m.threads == 0 {
		if n, err := strconv.Atoi(os.Getenv("OPENBLAS_NUM_THREADS")); err == nil && n > 0 {
			m.threads = n
		} else {
			m.threads = runtime.GOMAXPROCS(0) // the CPUs (and cgroup quota) Go may use
		}
	}
	setupBLAS()
	m.goThreads = usesCgoBLAS && goThreading && m.threads > 1 && setBLASThreads(1)
	if !m.goThreads {
		setBLASThreads(m.threads)
	}
	m.blas = tensor.WhichBLAS()

	hd := cfg.HeadDim()
	if cfg.ModelType == modelconfig.GPTNeoX {
		// HF scales scores by head_dim**-0.5 (a Python float) on float32.
		m.attnScale = float32(math.Pow(float64(hd), -0.5))
		m.rotDims = cfg.RotaryDims()
		m.cos, m.sin = cfg.RotaryTables()
	} else {
		m.attnScale = 1 // GPT-Neo does not scale attention scores
	}
	return m, nil
}
