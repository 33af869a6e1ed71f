package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteReplacesWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.bin")
	require.NoError(t, WriteFile(path, []byte("first"), 0o644))
	require.NoError(t, WriteFile(path, []byte("second"), 0o644))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "second", string(got))
}

func TestFailedWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	err := Write(path, 0o644, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return errors.New("boom")
	})
	require.ErrorContains(t, err, "boom")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no target and no temporary file may remain")
}

func TestFailedWriteKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.bin")
	require.NoError(t, WriteFile(path, []byte("old"), 0o644))
	err := Write(path, 0o644, func(w io.Writer) error { return errors.New("boom") })
	require.Error(t, err)
	got, _ := os.ReadFile(path)
	assert.Equal(t, "old", string(got))
}
