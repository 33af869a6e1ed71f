// Package kernels holds the cuda engine's CUDA C source (kernels.cu),
// embedded: NVRTC compiles it at load for the device's architecture
// (backends/cuda/driver) and the CPU emulator compiles the same file with
// g++ (backends/cuda/emu).
package kernels

import (
	_ "embed"
	"regexp"
	"sort"
)

// Source is kernels.cu.
//
//go:embed kernels.cu
var Source string

// Suffixes are the per-dtype instances of INSTANCES in kernels.cu.
var Suffixes = []string{"_f32", "_f16", "_bf16"}

var (
	plainKernel    = regexp.MustCompile(`(?m)^KERNEL void (\w+)\(`)
	instanceKernel = regexp.MustCompile(`(?m)^\s*KERNEL void (\w+)##sfx\(`)
)

// Names lists every kernel the source defines, sorted: the launch names
// the engine may use.
func Names() []string {
	var out []string
	for _, m := range plainKernel.FindAllStringSubmatch(Source, -1) {
		out = append(out, m[1])
	}
	for _, m := range instanceKernel.FindAllStringSubmatch(Source, -1) {
		for _, s := range Suffixes {
			out = append(out, m[1]+s[1:])
		}
	}
	sort.Strings(out)
	return out
}
