//go:build !(linux && (amd64 || arm64))

package driver

// supported says whether this platform can call the CUDA libraries: the
// cuda backend runs on Linux on x86-64 and arm64.
const supported = false

func call(fn uintptr, args ...uintptr) uintptr { panic("driver: unsupported platform") }
