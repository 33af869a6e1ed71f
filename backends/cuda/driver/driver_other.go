//go:build !linux

package driver

import (
	"fmt"
	"runtime"

	"github.com/memscope/memscope/backends/cuda/gpu"
)

// Options configure Open.
type Options struct{ CacheDir string }

// Device is never made off Linux.
type Device struct{ gpu.Device }

func unsupported() error {
	return fmt.Errorf("the cuda backend runs on Linux x86-64 and arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
}

// Probe fails off Linux.
func Probe() ([]string, error) { return nil, unsupported() }

// Open fails off Linux.
func Open(int, Options) (*Device, error) { return nil, unsupported() }

// SearchDirs is empty off Linux.
func SearchDirs() []string { return nil }
