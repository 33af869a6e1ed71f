package modelhash

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeModel(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

var baseFiles = map[string]string{
	"config.json":       `{"model_type":"gpt_neox"}`,
	"model.safetensors": "weights",
	"tokenizer.json":    "tok",
	"README.md":         "ignored",
}

func TestHashCoversTheRightFiles(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	writeModel(t, a, baseFiles)
	names, err := Files(a)
	require.NoError(t, err)
	assert.Equal(t, []string{"config.json", "model.safetensors", "tokenizer.json"}, names)

	h := New("")
	ha, err := h.Hash(a)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ha, Prefix))
	assert.Len(t, ha, len(Prefix)+64)

	// A copy elsewhere with a different README hashes the same.
	b := filepath.Join(root, "b")
	writeModel(t, b, baseFiles)
	require.NoError(t, os.WriteFile(filepath.Join(b, "README.md"), []byte("other"), 0o644))
	hb, err := h.Hash(b)
	require.NoError(t, err)
	assert.Equal(t, ha, hb)

	// Any counted file changing changes the hash.
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
		c := filepath.Join(root, "c-"+name)
		writeModel(t, c, baseFiles)
		require.NoError(t, os.WriteFile(filepath.Join(c, name), []byte("changed"), 0o644))
		hc, err := h.Hash(c)
		require.NoError(t, err)
		assert.NotEqual(t, ha, hc, name)
	}

	// An extra shard counts too.
	d := filepath.Join(root, "d")
	writeModel(t, d, baseFiles)
	require.NoError(t, os.WriteFile(filepath.Join(d, "model-00002-of-00002.safetensors"), []byte("w2"), 0o644))
	hd, err := h.Hash(d)
	require.NoError(t, err)
	assert.NotEqual(t, ha, hd)

	_, err = h.Hash(filepath.Join(root, "missing"))
	assert.Error(t, err)
	e := filepath.Join(root, "e")
	writeModel(t, e, map[string]string{"model.safetensors": "w"})
	_, err = h.Hash(e)
	assert.ErrorContains(t, err, "no config.json")
}

func TestHashMemoized(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "m")
	writeModel(t, dir, baseFiles)
	memo := filepath.Join(root, "cache", "modelhash.json")

	h1 := New(memo)
	var hashed []string
	h1.OnHash = func(p string, _ int64) { hashed = append(hashed, filepath.Base(p)) }
	first, err := h1.Hash(dir)
	require.NoError(t, err)
	assert.Equal(t, 3, h1.reads)
	assert.ElementsMatch(t, []string{"config.json", "model.safetensors", "tokenizer.json"}, hashed)
	assert.FileExists(t, memo)

	// Same process: nothing read again.
	again, err := h1.Hash(dir)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	assert.Equal(t, 3, h1.reads)

	// A new process (new Hasher) uses the memo file.
	h2 := New(memo)
	second, err := h2.Hash(dir)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.Equal(t, 0, h2.reads)

	// Changing a file (size and mtime change) re-hashes that file only.
	w := filepath.Join(dir, "model.safetensors")
	require.NoError(t, os.WriteFile(w, []byte("new weights"), 0o644))
	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(w, future, future))
	h3 := New(memo)
	third, err := h3.Hash(dir)
	require.NoError(t, err)
	assert.NotEqual(t, first, third)
	assert.Equal(t, 1, h3.reads)

	// Same size, new mtime: re-hashed as well.
	require.NoError(t, os.WriteFile(w, []byte("NEW WEIGHTS"), 0o644))
	later := future.Add(time.Hour)
	require.NoError(t, os.Chtimes(w, later, later))
	h4 := New(memo)
	fourth, err := h4.Hash(dir)
	require.NoError(t, err)
	assert.NotEqual(t, third, fourth)
	assert.Equal(t, 1, h4.reads)

	// A corrupt memo file is ignored, not trusted.
	require.NoError(t, os.WriteFile(memo, []byte("{not json"), 0o644))
	h5 := New(memo)
	fifth, err := h5.Hash(dir)
	require.NoError(t, err)
	assert.Equal(t, fourth, fifth)
	assert.Equal(t, 3, h5.reads)
}

func TestHashFollowsSymlinks(t *testing.T) {
	root := t.TempDir()
	blobs := filepath.Join(root, "blobs")
	writeModel(t, blobs, map[string]string{"c": baseFiles["config.json"], "w": baseFiles["model.safetensors"], "t": baseFiles["tokenizer.json"]})
	snap := filepath.Join(root, "snap")
	require.NoError(t, os.MkdirAll(snap, 0o755))
	for link, target := range map[string]string{"config.json": "c", "model.safetensors": "w", "tokenizer.json": "t"} {
		require.NoError(t, os.Symlink(filepath.Join(blobs, target), filepath.Join(snap, link)))
	}
	plain := filepath.Join(root, "plain")
	writeModel(t, plain, baseFiles)
	h := New("")
	hs, err := h.Hash(snap)
	require.NoError(t, err)
	hp, err := h.Hash(plain)
	require.NoError(t, err)
	assert.Equal(t, hp, hs)
}
