package embedded

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExtractMemorizerOnceAndRepair(t *testing.T) {
	cache := t.TempDir()
	m, err := ExtractMemorizer(cache)
	require.NoError(t, err)
	for _, f := range []string{"config.json", "tokenizer.json", "model.safetensors.index.json",
		"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		assert.FileExists(t, filepath.Join(m.ModelDir, f))
	}
	assert.FileExists(t, m.Canaries)
	assert.FileExists(t, m.Heldout)
	src, err := os.ReadFile(filepath.Join("memorizer", "heldout.npy"))
	require.NoError(t, err)
	got, err := os.ReadFile(m.Heldout)
	require.NoError(t, err)
	assert.Equal(t, src, got)

	// Second call: same place, files untouched.
	st1, err := os.Stat(m.Canaries)
	require.NoError(t, err)
	m2, err := ExtractMemorizer(cache)
	require.NoError(t, err)
	assert.Equal(t, m, m2)
	st2, err := os.Stat(m.Canaries)
	require.NoError(t, err)
	assert.Equal(t, st1.ModTime(), st2.ModTime())

	// A damaged or missing file is restored.
	require.NoError(t, os.WriteFile(m.Heldout, []byte("damaged"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(m.ModelDir, "config.json")))
	_, err = ExtractMemorizer(cache)
	require.NoError(t, err)
	got, err = os.ReadFile(m.Heldout)
	require.NoError(t, err)
	assert.Equal(t, src, got)
	assert.FileExists(t, filepath.Join(m.ModelDir, "config.json"))
}
