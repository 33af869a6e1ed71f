package pluginhost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

func writeExe(t *testing.T, dir, name string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
	return p
}

func TestSearchDirsOrder(t *testing.T) {
	root := t.TempDir()
	flag, env1, env2, path1 := filepath.Join(root, "flag"), filepath.Join(root, "env1"), filepath.Join(root, "env2"), filepath.Join(root, "path1")
	t.Setenv(EnvPluginDir, env1+string(os.PathListSeparator)+env2)
	t.Setenv("PATH", path1+string(os.PathListSeparator)+flag)
	dirs := SearchDirs([]string{flag})
	exe, err := os.Executable()
	require.NoError(t, err)
	exe, _ = filepath.EvalSymlinks(exe)
	require.Len(t, dirs, 5, "a folder given twice is searched once")
	assert.Equal(t, []string{flag, env1, env2, filepath.Dir(exe), path1}, dirs)
}

func TestResolveAndInstalled(t *testing.T) {
	root := t.TempDir()
	first, second := filepath.Join(root, "a"), filepath.Join(root, "b")
	cpuA := writeExe(t, first, plugins.BackendBinary("cpu"))
	writeExe(t, second, plugins.BackendBinary("cpu")) // shadowed by the first folder
	writeExe(t, second, plugins.TaskBinary("piqa"))
	writeExe(t, second, plugins.TaskBinary("arc_easy"))
	require.NoError(t, os.WriteFile(filepath.Join(second, plugins.TaskBinary("notexec")), nil, 0o644))
	dirs := []string{first, second}

	assert.Equal(t, []string{"arc_easy", "piqa"}, Names(Installed(plugins.KindTask, dirs)))
	paths, err := Resolve(plugins.KindBackend, []string{"cpu"}, dirs)
	require.NoError(t, err)
	assert.Equal(t, cpuA, paths["cpu"])

	_, err = Resolve(plugins.KindTask, []string{"piqa", "lambada"}, dirs)
	var nie *NotInstalledError
	require.ErrorAs(t, err, &nie)
	assert.Contains(t, err.Error(), `unknown task "lambada" (installed: arc_easy, piqa)`)
	assert.Contains(t, err.Error(), "memscope-task-lambada")

	_, err = Resolve(plugins.KindBackend, []string{"cuda"}, []string{filepath.Join(root, "empty")})
	assert.ErrorContains(t, err, `unknown backend "cuda" (none are installed)`)
}

func TestBackendEnv(t *testing.T) {
	assert.Empty(t, BackendEnv("cpu", 0))
	assert.Equal(t, []string{"OPENBLAS_NUM_THREADS=4", "OMP_NUM_THREADS=4"}, BackendEnv("cpu", 4))
	assert.Empty(t, BackendEnv("cuda", 4), "BLAS threads are the cpu backend's business")
	assert.Equal(t, []string{"MEMSCOPE_CUDA_DEVICE=2"}, DeviceEnv("cuda", 2))
	assert.Empty(t, DeviceEnv("cuda", 0))
	assert.Empty(t, DeviceEnv("cpu", 2), "the cpu backend has no GPU to select")
}
