//go:build !cgo

package emu

import (
	"errors"

	"github.com/memscope/memscope/backends/cuda/gpu"
)

// Available says whether this build has the emulator (it needs cgo).
const Available = false

// Options configure an emulated device.
type Options struct {
	Memory  uint64
	Threads int
}

// Device is the emulated GPU (never made without cgo).
type Device struct{ gpu.Device }

// Kernels lists the kernels the emulator was compiled with (none).
func (d *Device) Kernels() []string { return nil }

// Open fails: the emulator compiles the kernels with the C++ compiler.
func Open(Options) (*Device, error) {
	return nil, errors.New("the CPU emulator of the cuda engine needs cgo (CGO_ENABLED=1 and g++)")
}
