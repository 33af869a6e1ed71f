package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// A symlink (e.g. /dev/stdout → /proc/self/fd/1) must not be replaced by
// a regular file: the file it points to is written, the link stays.
func TestWriteFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.txt")
	link := filepath.Join(dir, "link.txt")
	require.NoError(t, os.WriteFile(real, []byte("old"), 0o644))
	require.NoError(t, os.Symlink(real, link))
	require.NoError(t, WriteFile(link, []byte("new"), 0o644))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, fi.Mode()&os.ModeSymlink != 0, "the link must stay a link")
	got, err := os.ReadFile(real)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
}

// A named pipe (like /dev/stdout on a pipe, or a FIFO) is written in
// place; a rename would replace it by a regular file nobody reads.
func TestWriteIntoFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	mkfifo(t, fifo)
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	require.NoError(t, WriteFile(fifo, []byte("through the pipe"), 0o644))
	fi, err := os.Lstat(fifo)
	require.NoError(t, err)
	require.True(t, fi.Mode()&os.ModeNamedPipe != 0, "the FIFO must stay a FIFO, not be replaced by a regular file")
	select {
	case s := <-got:
		assert.Equal(t, "through the pipe", s)
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived through the FIFO")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file may remain")
}

func TestWriteOntoDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	err := WriteFile(dir, []byte("x"), 0o644)
	require.ErrorContains(t, err, "is a directory")
}
