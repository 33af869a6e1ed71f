// Package gpu is the device interface the cuda engine computes on: memory,
// kernel launches (by name, from backends/cuda/kernels) and cuBLAS-style
// matrix products. Two implementations: backends/cuda/driver (a real
// NVIDIA GPU through the driver API, NVRTC and cuBLAS, pure Go) and
// backends/cuda/emu (the same kernel source compiled for the CPU and
// OpenBLAS, for tests without a GPU).
package gpu

import (
	"errors"
	"fmt"
)

// Ptr is a device address; 0 is the null pointer kernels test for.
type Ptr uint64

// Add offsets a device address by bytes.
func (p Ptr) Add(bytes int64) Ptr { return p + Ptr(bytes) }

// DType is an element type of device memory.
type DType int

// Element types.
const (
	F32 DType = iota
	F16
	BF16
)

// Size is the size of one element in bytes.
func (t DType) Size() int {
	if t == F32 {
		return 4
	}
	return 2
}

// Name is memscope's name for the type ("float32", "float16", "bfloat16").
func (t DType) Name() string {
	switch t {
	case F32:
		return "float32"
	case F16:
		return "float16"
	case BF16:
		return "bfloat16"
	}
	return fmt.Sprintf("dtype(%d)", int(t))
}

// Suffix is the kernel-name suffix of the type's kernel instances.
func (t DType) Suffix() string {
	switch t {
	case F16:
		return "_f16"
	case BF16:
		return "_bf16"
	}
	return "_f32"
}

// ParseDType reads a dtype name.
func ParseDType(name string) (DType, error) {
	switch name {
	case "float32":
		return F32, nil
	case "float16":
		return F16, nil
	case "bfloat16":
		return BF16, nil
	}
	return 0, fmt.Errorf("dtype %q: want float32, float16 or bfloat16", name)
}

// Dim3 is a grid or block size.
type Dim3 struct{ X, Y, Z int }

// Grid1 is a one-dimensional grid or block.
func Grid1(x int) Dim3 { return Dim3{x, 1, 1} }

// Gemm is one cuBLAS cublasGemmStridedBatchedEx call, with cuBLAS's
// column-major conventions: for each of Batch problems,
// C = Alpha·op(A)·op(B) + Beta·C with op(A) M×K, op(B) K×N, C M×N, and
// leading dimensions in elements. A and B may be float32, float16 or
// bfloat16; C is float32; products accumulate in float32.
type Gemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A              Ptr
	AType          DType
	LDA            int
	StrideA        int64
	B              Ptr
	BType          DType
	LDB            int
	StrideB        int64
	C              Ptr
	LDC            int
	StrideC        int64
	Batch          int // 0 means 1
}

// Info describes a device.
type Info struct {
	Name     string // "NVIDIA H200", "CPU emulator"
	Arch     string // "sm_90"; "cpu" for the emulator
	Memory   uint64 // total bytes
	Emulated bool
	Detail   string // driver / library versions, for logs
}

// Device is one GPU (or its emulation). Calls are ordered: each runs after
// the previous one has finished as far as the caller can observe
// (downloads wait for earlier launches). A Device is used by one goroutine
// at a time.
type Device interface {
	Info() Info
	// MemInfo reports free and total device memory in bytes.
	MemInfo() (free, total uint64, err error)
	Alloc(bytes int64) (Ptr, error)
	Free(p Ptr) error
	// Upload copies host bytes to the device; Download the reverse.
	Upload(dst Ptr, src []byte) error
	Download(dst []byte, src Ptr) error
	// Copy copies bytes between device buffers; Zero clears them.
	Copy(dst, src Ptr, bytes int64) error
	Zero(dst Ptr, bytes int64) error
	// Launch runs the named kernel. Arguments are Ptr, int32, int64 or
	// float32, in the kernel's parameter order and types.
	Launch(kernel string, grid, block Dim3, sharedBytes int, args ...any) error
	Gemm(g Gemm) error
	// Sync waits for all queued work and reports its first error.
	Sync() error
	Close() error
}

// ErrOutOfMemory is wrapped by Alloc errors when the device is full.
var ErrOutOfMemory = errors.New("out of device memory")
