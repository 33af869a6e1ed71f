package cpu

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// Options tune a loaded model.
type Options struct {
	// Threads is how many CPU threads compute: OpenBLAS's thread count and
	// the number of goroutines for element-wise work (never both at once).
	// 0 means OPENBLAS_NUM_THREADS when set, else GOMAXPROCS (every CPU the
	// process may use).
	Threads int
	// AllowNonFiniteWeights loads weights that hold NaN or ±Inf (listed by
	// NonFiniteWeights) instead of refusing them with an
	// *engine.NonFiniteWeightsError.
	AllowNonFiniteWeights bool
	// Limits bound the tokens of one forward pass and the KV cache of one
	// generation group (0: engine.DefaultMaxBatchTokens, DefaultMaxCacheBytes).
	engine.Limits
}

// unembedRows bounds the rows of one unembedding product (rows × vocab
// floats of scratch).
const unembedRows = 256

// kinds are the interventions the engine applies: every attention mode
// (intervention.AttentionAt).
var kinds = intervention.AttentionKinds

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
	// headDim (arch.QKVWeight).
	qkv    linear
	dense  linear // attention output projection
	fc1    linear // MLP up
	fc2    linear // MLP down
	window int    // local attention: positions a query sees; 0 global
}

// Model is a loaded GPT-NeoX or GPT-Neo model. Its methods may be called
// from several goroutines; requests run one at a time.
type Model struct {
	mu      sync.Mutex
	closed  bool
	cfg     modelconfig.Config
	set     arch.Settings
	threads int
	limits  engine.Limits
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

	// rotary tables [MaxPositions][RotaryDims/2] (set.RotaryDims > 0)
	cos, sin []float32

	act int // actGELU or actGELUTanh

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
	a, err := arch.For(cfg)
	if err != nil {
		return nil, err
	}
	if err := arch.Validate(cfg); err != nil {
		return nil, err
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("cpu engine options: Threads must be ≥ 0 (0: every CPU)")
	}
	if err := opts.Limits.Check(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, set: a.Settings(cfg), limits: opts.Limits.WithDefaults(), arena: &weightArena{}}
	// A model dropped without Close gives its weights back when collected
	// (every method holds m until it returns, so none is still reading).
	runtime.AddCleanup(m, func(a *weightArena) { a.free() }, m.arena)
	switch m.set.Activation {
	case modelconfig.ActGELU:
		m.act = actGELU
	case modelconfig.ActGELUNew:
		m.act = actGELUTanh
	default:
		return nil, fmt.Errorf("activation %q is not supported (want %s or %s)", m.set.Activation, modelconfig.ActGELU, modelconfig.ActGELUNew)
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
	m.cos, m.sin = arch.RotaryTables(m.set.RotaryDims, m.set.RotaryBase, cfg.MaxPositions)
	m.blocks = make([]block, cfg.NumLayers)
	for i := range m.blocks {
		m.blocks[i].window = m.set.Window[i]
	}
	return m, nil
}
