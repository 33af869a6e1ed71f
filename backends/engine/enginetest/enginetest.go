// Package enginetest is the conformance kit every compute engine runs in
// its own tests (as tasks run taskkit/tasktest): parity with every tiny
// fixture made with HF transformers (logits, hidden states,
// short-circuit and zero-ablation of each block, of a set and of all
// blocks, greedy continuations), Score == Logits, batch-composition
// invariance, generation == repeated full forwards, splitting by the
// engine's limits changes nothing, bad requests are refused with the
// shared messages, and the trained memorizer's per-sample reference (400
// canaries, every block short-circuited).
//
// An engine needs only a constructor:
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, func(dir string, lim engine.Limits) (engine.Engine, error) {
//			return mine.Load(dir, mine.Options{Limits: lim})
//		})
//	}
//
// Subtests can be run one at a time (go test -run
// 'TestConformance/Fixtures/gptneo-tiny'). Optional capabilities
// (engine.HiddenStater, engine.OptionsGenerator) are checked where the
// engine has them and reported, with the reason, where it has not.
package enginetest

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
)

// Open opens a Hugging Face model folder with the engine under test,
// within lim (zero fields: the engine's defaults). The kit closes what it
// opens.
type Open func(dir string, lim engine.Limits) (engine.Engine, error)

// Kit is the conformance suite with its tolerances.
type Kit struct {
	Open Open
	// LogitTol bounds |Δ| of logits and hidden states against the HF
	// fixtures (fp32 transformers on a GPU). 0 means 1e-4, the bar the
	// README states.
	LogitTol float64
	// BatchTol bounds how far a number may move when its sequence runs in
	// another batch or split (matrix-kernel rounding only), given the
	// reference value. nil means 1e-5 + 1e-6·|ref| (GPT-Neo's tied
	// unembedding gives logits near 50, where a float32 ulp is 4e-6).
	BatchTol func(ref float64) float64
}

// Run runs the whole kit with the default tolerances.
func Run(t *testing.T, open Open) {
	Kit{Open: open}.Run(t)
}

// Run runs every check as a subtest of t.
func (k Kit) Run(t *testing.T) {
	if k.LogitTol == 0 {
		k.LogitTol = 1e-4
	}
	if k.BatchTol == nil {
		k.BatchTol = func(ref float64) float64 { return 1e-5 + 1e-6*math.Abs(ref) }
	}
	t.Run("Fixtures", k.fixtures)
	t.Run("ScoreEqualsLogits", k.scoreEqualsLogits)
	t.Run("BatchComposition", k.batchComposition)
	t.Run("GenerateEqualsFullForward", k.generateEqualsFullForward)
	t.Run("GenerateSplit", k.generateSplit)
	t.Run("GenerateSuppress", k.generateSuppress)
	t.Run("BadRequests", k.badRequests)
	t.Run("Memorizer", k.memorizer)
}

// root is the repository root, found from this file: the kit runs from
// any package's tests.
func root() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("enginetest: cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// TinyDir is the folder of the tiny HF fixtures (backends/testdata/tiny).
func TinyDir() string { return filepath.Join(root(), "backends", "testdata", "tiny") }

// TinyModels are the tiny fixture models: GPT-NeoX with parallel and
// sequential residual, BF16 weights, GPT-Neo with local attention, FP16
// weights.
var TinyModels = []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneox-tiny-bf16", "gptneo-tiny", "gptneo-tiny-fp16"}

// open opens a tiny model (or any folder under the repository) and closes
// it when the test ends.
func (k Kit) open(t *testing.T, dir string, lim engine.Limits) engine.Engine {
	t.Helper()
	e, err := k.Open(dir, lim)
	require.NoError(t, err, "open %s", dir)
	t.Cleanup(func() { e.Close() })
	return e
}

func (k Kit) tiny(t *testing.T, name string, lim engine.Limits) engine.Engine {
	return k.open(t, filepath.Join(TinyDir(), name), lim)
}

func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	require.Equal(t, len(want), len(got))
	var m float64
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// maxScaledDiff is the largest |got−want| / BatchTol(want).
func (k Kit) maxScaledDiff(got, want []float32) float64 {
	var m float64
	for i := range got {
		d := math.Abs(float64(got[i])-float64(want[i])) / k.BatchTol(float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
