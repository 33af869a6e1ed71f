package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/cuda/driver"
	"github.com/memscope/memscope/plugins"
)

// TestPluginWithoutCgo builds the plugin with CGO_ENABLED=0, starts it as
// memscope does and asks what it can do. Without a GPU it must still
// describe itself and say what is missing, and refuse to load a model
// with that reason; with one, it says nothing is missing.
func TestPluginWithoutCgo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cuda backend runs on Linux")
	}
	bin := filepath.Join(t.TempDir(), "memscope-backend-cuda")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "CGO_ENABLED=0 go build: %s", out)

	b, proc, err := plugins.StartBackend(bin, plugins.StartOptions{})
	require.NoError(t, err)
	defer proc.Kill()
	ctx := context.Background()
	caps, err := b.Capabilities(ctx)
	require.NoError(t, err)
	assert.Equal(t, "cuda", caps.Name)
	assert.Equal(t, []string{"float16", "bfloat16", "float32"}, caps.DTypes)
	if _, perr := driver.Probe(); perr == nil {
		assert.Empty(t, caps.Unavailable, "a GPU is present")
		return
	}
	assert.Contains(t, caps.Unavailable, "cannot use an NVIDIA GPU")
	assert.Contains(t, caps.Unavailable, driver.EnvLibraryPath, "says how to point at the libraries")
	_, err = b.Load(ctx, plugins.LoadRequest{ModelDir: "../../testdata/tiny/gptneox-tiny"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot run on this machine")
}
