package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/memscope/memscope/plugins"
)

// A backend that cannot run here (a GPU backend without a GPU) is refused
// before any model loads, with its reason.
func TestCheckCapabilitiesUnavailable(t *testing.T) {
	err := checkCapabilities(plugins.Capabilities{Name: "cuda", Unavailable: "libcuda.so.1 not found"}, Config{Backend: "cuda"})
	assert.EqualError(t, err, "backend cuda cannot run on this machine: libcuda.so.1 not found")
	assert.NoError(t, checkCapabilities(plugins.Capabilities{Name: "cpu"}, Config{Backend: "cpu"}))
}
