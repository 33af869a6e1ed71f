package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/internal/tmpfs"
	"github.com/memscope/memscope/results/resultstest"
)

// fill writes a file that takes the rest of the file system's space.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for { // the last pages, a byte at a time
		if _, err := f.Write(chunk[:1]); err != nil {
			return
		}
	}
}

// A full disk while the figures are written exited 0 with only an INFO
// line; a read-only results folder too. Both are failures now, and no
// half-written figure stays.
func TestRunReportOnAFullOrReadOnlyDisk(t *testing.T) {
	fs := tmpfs.Mount(t, 4<<20)
	out := filepath.Join(fs.Dir, "run")
	require.NoError(t, resultstest.Write(out, "run-a", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	fill(t, fs.Dir)
	var w bytes.Buffer
	err := runReport(&w, out, nil, nil, hclog.NewNullLogger())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no space left on device")
	assert.Contains(t, err.Error(), "the tables are written: free space (or make "+filepath.Join(out, "figures")+" writable) and run memscope results plot "+out)
	leftovers, _ := filepath.Glob(filepath.Join(out, "figures", ".*"))
	assert.Empty(t, leftovers)

	require.NoError(t, os.Remove(filepath.Join(fs.Dir, "filler")))
	require.NoError(t, os.RemoveAll(filepath.Join(out, "figures")))
	fs.ReadOnly()
	err = runReport(&w, out, nil, nil, hclog.NewNullLogger())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read-only file system")
	fs.ReadWrite()
	require.NoError(t, runReport(&w, out, nil, nil, hclog.NewNullLogger()))
}
