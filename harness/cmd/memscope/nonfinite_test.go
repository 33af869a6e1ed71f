package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/safetensors"
)

// patchedModel copies a model folder and sets one element of one F32
// tensor of its model.safetensors (a diverged checkpoint).
func patchedModel(t *testing.T, src, tensor string, index int, v float32) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	info, ok := f.Lookup(tensor)
	start := f.Header.DataStart
	f.Close()
	require.True(t, ok, tensor)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(b[start+info.Begin+int64(4*index):], math.Float32bits(v))
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return dir
}

// A NaN in one weight crashed `memscope generate` with a Go stack trace
// (SIGSEGV in the cpu kernels). Now it is refused (exit 2) with the
// tensor's name; --allow-nonfinite-weights runs it and says where the
// pass went NaN.
func TestGenerateWithNaNWeight(t *testing.T) {
	const tensor = "gpt_neox.layers.1.attention.dense.weight"
	model := patchedModel(t, tinyNeoX, tensor, 0, float32(math.NaN()))
	dir := t.TempDir()
	ids := writeIDsNPY(t, filepath.Join(dir, "ids.npy"), 2, 4, []int64{5, 17, 9, 33, 8, 1, 2, 3})
	out := filepath.Join(dir, "gen.npy")
	r := memscopeReal(t, "generate", "--model", model, "--ids", ids, "--new", "3", "--out", out)
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, tensor+" (1 NaN of 4096 values")
	assert.Contains(t, r.stderr, "--allow-nonfinite-weights")
	assert.NotContains(t, r.stderr, "goroutine")
	assert.NoFileExists(t, out)

	r = memscopeReal(t, "generate", "--model", model, "--ids", ids, "--new", "3", "--out", out, "--allow-nonfinite-weights")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "weights hold NaN or infinite values")
	assert.Contains(t, r.stderr, tensor)
	assert.Contains(t, r.stderr, "prefix 0: the forward pass went NaN or infinite (block 1 attention output at position 0)")
	assert.FileExists(t, out)

	r = memscopeReal(t, "forward", "--model", model, "--ids", ids, "--out", filepath.Join(dir, "logits.npy"), "--allow-nonfinite-weights")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "warning: the logits hold 3072 NaN of 3072 values, the first at index 0 (sequence 0, position 0 first)")
}
