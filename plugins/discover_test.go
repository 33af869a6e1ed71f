package plugins_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

func TestBinaryNames(t *testing.T) {
	assert.Equal(t, "memscope-backend-cpu", plugins.BackendBinary("cpu"))
	assert.Equal(t, "memscope-task-piqa", plugins.TaskBinary("piqa"))
}

func TestDiscover(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	write := func(dir, name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), mode))
		return p
	}
	cpu := write(first, "memscope-backend-cpu", 0o755)
	piqa := write(first, "memscope-task-piqa", 0o755)
	write(first, "memscope-task-notexec", 0o644)                                    // not executable: ignored
	write(first, "memscope-task-", 0o755)                                           // no name: ignored
	write(first, "other-tool", 0o755)                                               // other prefix: ignored
	write(first, "memscope", 0o755)                                                 // the CLI itself: ignored
	require.NoError(t, os.Mkdir(filepath.Join(first, "memscope-task-adir"), 0o755)) // a directory: ignored
	write(second, "memscope-backend-cpu", 0o755)                                    // shadowed by first
	cuda := write(second, "memscope-backend-cuda", 0o755)
	lambada := filepath.Join(second, "memscope-task-lambada")
	require.NoError(t, os.Symlink(piqa, lambada)) // a link to an executable counts
	require.NoError(t, os.Symlink(filepath.Join(second, "gone"), filepath.Join(second, "memscope-task-dangling")))

	got := plugins.Discover(first, filepath.Join(first, "does-not-exist"), second)
	assert.Equal(t, []plugins.Found{
		{Kind: "backend", Name: "cpu", Path: cpu},
		{Kind: "backend", Name: "cuda", Path: cuda},
		{Kind: "task", Name: "lambada", Path: lambada},
		{Kind: "task", Name: "piqa", Path: piqa},
	}, got)

	assert.Empty(t, plugins.Discover())
	assert.Empty(t, plugins.Discover(filepath.Join(first, "nope")))
}
