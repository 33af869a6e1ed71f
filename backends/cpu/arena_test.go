package cpu

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/engine/enginetest"
	"github.com/memscope/memscope/intervention"
)

// heapGrowth is how much the live Go heap grows while f runs (f's result
// is kept alive until measured).
func heapGrowth(f func() any) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// The weights must live off the Go heap: on it they set the collector's
// pace (GOGC=100 lets garbage grow to the live heap), and a real run's
// backend peaked at twice the model's size.
func TestLoadedWeightsAreOffTheGoHeap(t *testing.T) {
	for _, name := range []string{"gptneox-tiny", "gptneo-tiny", "gptneox-tiny-bf16"} {
		t.Run(name, func(t *testing.T) {
			var m *Model
			grew := heapGrowth(func() any { m = loadTiny(t, name, Options{Threads: 1}); return m })
			weights := weightBytes(m)
			require.Greater(t, weights, int64(500_000), "the tiny models hold about a megabyte of weights")
			assert.Less(t, grew, weights/4, "Go heap grew by %d bytes loading %d bytes of weights", grew, weights)
		})
	}
}

// weightBytes sums the model's weight tensors.
func weightBytes(m *Model) int64 {
	n := len(m.embed) + len(m.posEmb)
	for _, b := range m.blocks {
		for _, l := range []linear{b.qkv, b.dense, b.fc1, b.fc2} {
			n += len(l.w) + len(l.b)
		}
		n += len(b.ln1.w) + len(b.ln1.b) + len(b.ln2.w) + len(b.ln2.b)
	}
	n += len(m.lnF.w) + len(m.lnF.b)
	if unsafe.SliceData(m.unembed) != unsafe.SliceData(m.embed) {
		n += len(m.unembed)
	}
	return 4 * int64(n)
}

func TestRandomWeightsAreOffTheGoHeap(t *testing.T) {
	cfg := Pythia160MConfig()
	cfg.NumLayers, cfg.VocabSize = 2, 8192
	var m *Model
	grew := heapGrowth(func() any {
		var err error
		m, err = NewRandom(cfg, 1, Options{Threads: 1})
		require.NoError(t, err)
		return m
	})
	t.Cleanup(func() { m.Close() })
	weights := weightBytes(m)
	require.Greater(t, weights, int64(80<<20))
	assert.Less(t, grew, weights/16, "Go heap grew by %d bytes for %d bytes of weights", grew, weights)
}

// A closed model gives its mappings back and refuses work; a second Close
// is harmless.
func TestCloseReleasesWeights(t *testing.T) {
	m, err := Load(filepath.Join(enginetest.TinyDir(), "gptneox-tiny"), Options{Threads: 1})
	require.NoError(t, err)
	ids := [][]int32{{1, 2, 3, 4}}
	_, err = m.Logits(context.Background(), ids, intervention.Intervention{})
	require.NoError(t, err)
	require.NotEmpty(t, m.arena.maps)
	require.NoError(t, m.Close())
	assert.Empty(t, m.arena.maps)
	require.NoError(t, m.Close())
	_, err = m.Score(context.Background(), []engine.Sequence{{Tokens: []int32{1, 2, 3}, ScoreFrom: 1}}, intervention.Intervention{})
	assert.ErrorIs(t, err, errClosed)
}

func TestArenaAlignmentAndBigTensors(t *testing.T) {
	a := &weightArena{}
	defer a.free()
	small := a.floats(3)
	next := a.floats(5)
	big := a.floats(arenaChunk/4 + 1) // its own mapping
	empty := a.floats(0)
	for _, s := range [][]float32{small, next, big} {
		assert.Zero(t, uintptrOf(s)%64, "tensors start on a cache line")
		for _, i := range []int{0, len(s) / 2, len(s) - 1} {
			assert.Zero(t, s[i])
			s[i] = 1 // writable
		}
	}
	assert.Len(t, small, 3)
	assert.Len(t, next, 5)
	assert.Equal(t, 0, cap(small)-3, "a tensor cannot grow into the next")
	assert.Empty(t, empty)
	assert.Equal(t, int64(4*(3+5+arenaChunk/4+1)), a.size)
}

func uintptrOf(s []float32) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s))) }
