//go:build cgo

// Package emu is a gpu.Device that runs on the CPU: the cuda engine's own
// kernel source (backends/cuda/kernels/kernels.cu) compiled with g++
// through a shim for the CUDA subset it uses (emu_shim.h: one fiber per
// CUDA thread of a block, barriers for __syncthreads and __syncwarp,
// per-block shared memory, warp shuffles through an exchange area), and
// cuBLAS's matrix products answered by OpenBLAS under cuBLAS's
// column-major conventions. It lets CI test the engine's host logic and
// kernels without a GPU; only the thin driver layer is left for a GPU.
//
// Device memory is host memory outside the Go heap, each buffer ending
// just before an inaccessible page, and every host copy is checked
// against the allocation it touches, so engine bugs fail loudly.
package emu

/*
#cgo CXXFLAGS: -O2 -std=c++17 -fno-strict-aliasing -I${SRCDIR}
#cgo LDFLAGS: -lopenblas -lstdc++ -lm
#include <stdlib.h>
#include "emu.h"
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"unsafe"

	"github.com/memscope/memscope/backends/cuda/gpu"
)

// Available says whether this build has the emulator (it needs cgo).
const Available = true

// DefaultMemory is the device memory an emulator reports when Options
// name none.
const DefaultMemory = 4 << 30

// Options configure an emulated device.
type Options struct {
	Memory  uint64 // total bytes it pretends to have; 0 means DefaultMemory
	Threads int    // OS threads that run blocks; 0 means GOMAXPROCS
}

type alloc struct {
	ptr    unsafe.Pointer // the buffer (what the Ptr is the address of)
	size   int64
	mapped C.longlong
	base   unsafe.Pointer // the mapping
}

// Device is the emulated GPU.
type Device struct {
	mu      sync.Mutex
	opts    Options
	allocs  map[gpu.Ptr]alloc
	used    uint64
	kernels map[string]*C.char
	closed  bool
}

var _ gpu.Device = (*Device)(nil)

// Open returns a new emulated device.
func Open(opts Options) (*Device, error) {
	if opts.Memory == 0 {
		opts.Memory = DefaultMemory
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	d := &Device{opts: opts, allocs: map[gpu.Ptr]alloc{}, kernels: map[string]*C.char{}}
	for i := 0; i < int(C.emu_kernel_count()); i++ {
		name := C.emu_kernel_name(C.int(i))
		d.kernels[C.GoString(name)] = name
	}
	return d, nil
}

// Kernels lists the kernels the emulator was compiled with.
func (d *Device) Kernels() []string {
	out := make([]string, 0, len(d.kernels))
	for k := range d.kernels {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Info implements gpu.Device.
func (d *Device) Info() gpu.Info {
	return gpu.Info{Name: "CPU emulator", Arch: "cpu", Memory: d.opts.Memory, Emulated: true,
		Detail: fmt.Sprintf("%d threads, OpenBLAS", d.opts.Threads)}
}

// MemInfo implements gpu.Device.
func (d *Device) MemInfo() (free, total uint64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opts.Memory - d.used, d.opts.Memory, nil
}

// Alloc implements gpu.Device.
func (d *Device) Alloc(bytes int64) (gpu.Ptr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, fmt.Errorf("emulated device is closed")
	}
	if bytes <= 0 {
		return 0, fmt.Errorf("alloc of %d bytes", bytes)
	}
	if uint64(bytes) > d.opts.Memory-d.used {
		return 0, fmt.Errorf("alloc %d bytes (%d of %d in use): %w", bytes, d.used, d.opts.Memory, gpu.ErrOutOfMemory)
	}
	var mapped C.longlong
	var base unsafe.Pointer
	p := C.emu_alloc(C.longlong(bytes), &mapped, &base)
	if p == nil {
		return 0, fmt.Errorf("alloc %d bytes: mmap failed: %w", bytes, gpu.ErrOutOfMemory)
	}
	ptr := gpu.Ptr(uintptr(p))
	d.allocs[ptr] = alloc{ptr: p, size: bytes, mapped: mapped, base: base}
	d.used += uint64(bytes)
	return ptr, nil
}

// Free implements gpu.Device.
func (d *Device) Free(p gpu.Ptr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.allocs[p]
	if !ok {
		return fmt.Errorf("free of %#x: not an allocation", uint64(p))
	}
	C.emu_free(a.base, a.mapped)
	delete(d.allocs, p)
	d.used -= uint64(a.size)
	return nil
}

// pointer returns the host address of p after checking that [p, p+n)
// lies inside one allocation.
func (d *Device) pointer(p gpu.Ptr, n int64) (unsafe.Pointer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for start, a := range d.allocs {
		if p >= start && p < start+gpu.Ptr(a.size) {
			if int64(p-start)+n > a.size {
				return nil, fmt.Errorf("%d bytes at %#x run past the end of its %d-byte allocation", n, uint64(p), a.size)
			}
			return unsafe.Add(a.ptr, int(p-start)), nil
		}
	}
	return nil, fmt.Errorf("address %#x is not in any allocation", uint64(p))
}

// span is pointer as a byte slice.
func (d *Device) span(p gpu.Ptr, n int64) ([]byte, error) {
	ptr, err := d.pointer(p, n)
	if err != nil || n == 0 {
		return nil, err
	}
	return unsafe.Slice((*byte)(ptr), n), nil
}

// Upload implements gpu.Device.
func (d *Device) Upload(dst gpu.Ptr, src []byte) error {
	b, err := d.span(dst, int64(len(src)))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	copy(b, src)
	return nil
}

// Download implements gpu.Device.
func (d *Device) Download(dst []byte, src gpu.Ptr) error {
	b, err := d.span(src, int64(len(dst)))
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	copy(dst, b)
	return nil
}

// Copy implements gpu.Device.
func (d *Device) Copy(dst, src gpu.Ptr, n int64) error {
	s, err := d.span(src, n)
	if err != nil {
		return fmt.Errorf("copy source: %w", err)
	}
	t, err := d.span(dst, n)
	if err != nil {
		return fmt.Errorf("copy destination: %w", err)
	}
	copy(t, s)
	return nil
}

// Zero implements gpu.Device.
func (d *Device) Zero(dst gpu.Ptr, n int64) error {
	t, err := d.span(dst, n)
	if err != nil {
		return fmt.Errorf("zero: %w", err)
	}
	clear(t)
	return nil
}

// Launch implements gpu.Device: the grid's blocks are split over the
// device's threads, each running its blocks one after another.
func (d *Device) Launch(kernel string, grid, block gpu.Dim3, shared int, args ...any) error {
	name, ok := d.kernels[kernel]
	if !ok {
		return fmt.Errorf("launch %s: no such kernel", kernel)
	}
	if block.Y > 1 || block.Z > 1 {
		return fmt.Errorf("launch %s: the emulator runs one-dimensional blocks only", kernel)
	}
	gx, gy, gz := max(grid.X, 1), max(grid.Y, 1), max(grid.Z, 1)
	blocks := int64(gx) * int64(gy) * int64(gz)
	// Kernel parameters the CUDA way: an array of pointers to each value,
	// in C memory (8 bytes a value).
	n := len(args)
	mem := C.malloc(C.size_t(16 * max(n, 1)))
	defer C.free(mem)
	vals := unsafe.Slice((*uint64)(mem), n)
	ptrs := unsafe.Slice((*unsafe.Pointer)(unsafe.Add(mem, 8*n)), n)
	for i, a := range args {
		v, err := argBits(a)
		if err != nil {
			return fmt.Errorf("launch %s: argument %d: %w", kernel, i, err)
		}
		vals[i] = v
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	argv := (*unsafe.Pointer)(unsafe.Add(mem, 8*n))
	workers := int64(min(d.opts.Threads, int(blocks)))
	errs := make([]C.int, workers)
	var wg sync.WaitGroup
	for w := int64(0); w < workers; w++ {
		lo, hi := blocks*w/workers, blocks*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = C.emu_launch(name, argv, C.int(gx), C.int(gy), C.int(gz), C.int(block.X), C.longlong(shared), C.longlong(lo), C.longlong(hi))
		}()
	}
	wg.Wait()
	for _, e := range errs {
		switch e {
		case 0:
		case 2:
			return fmt.Errorf("launch %s: block of %d threads (1 to 1024)", kernel, block.X)
		case 3:
			return fmt.Errorf("launch %s: cannot map fiber stacks", kernel)
		case 4:
			return fmt.Errorf("launch %s: threads wait at a barrier that the others never reach (__syncthreads in divergent code)", kernel)
		default:
			return fmt.Errorf("launch %s: error %d", kernel, int(e))
		}
	}
	return nil
}

func argBits(a any) (uint64, error) {
	switch v := a.(type) {
	case gpu.Ptr:
		return uint64(v), nil
	case int32:
		return uint64(uint32(v)), nil
	case int64:
		return uint64(v), nil
	case float32:
		return uint64(math.Float32bits(v)), nil
	}
	return 0, fmt.Errorf("type %T (want gpu.Ptr, int32, int64 or float32)", a)
}

func emuType(t gpu.DType) C.int {
	switch t {
	case gpu.F16:
		return C.EMU_F16
	case gpu.BF16:
		return C.EMU_BF16
	}
	return C.EMU_F32
}

// Gemm implements gpu.Device with OpenBLAS's sgemm (half inputs are
// widened to float32 first: float32 accumulation, as cuBLAS's
// CUBLAS_COMPUTE_32F).
func (d *Device) Gemm(g gpu.Gemm) error {
	if g.M <= 0 || g.N <= 0 || g.K <= 0 {
		return fmt.Errorf("gemm %d×%d×%d: every size must be positive", g.M, g.N, g.K)
	}
	batch := max(g.Batch, 1)
	// The operands must lie inside their allocations.
	var host [3]unsafe.Pointer
	for i, o := range []struct {
		name   string
		p      gpu.Ptr
		ld     int
		cols   int
		rows   int
		stride int64
		size   int
	}{
		{"A", g.A, g.LDA, pick(g.TransA, g.M, g.K), pick(g.TransA, g.K, g.M), g.StrideA, g.AType.Size()},
		{"B", g.B, g.LDB, pick(g.TransB, g.K, g.N), pick(g.TransB, g.N, g.K), g.StrideB, g.BType.Size()},
		{"C", g.C, g.LDC, g.N, g.M, g.StrideC, 4},
	} {
		if o.ld < o.rows {
			return fmt.Errorf("gemm: ld%s %d < %d rows", o.name, o.ld, o.rows)
		}
		last := int64(batch-1)*o.stride + int64(o.ld)*int64(o.cols-1) + int64(o.rows)
		ptr, err := d.pointer(o.p, last*int64(o.size))
		if err != nil {
			return fmt.Errorf("gemm operand %s: %w", o.name, err)
		}
		host[i] = ptr
	}
	tr := func(b bool) C.int {
		if b {
			return 1
		}
		return 0
	}
	C.emu_gemm(tr(g.TransA), tr(g.TransB), C.int(g.M), C.int(g.N), C.int(g.K), C.float(g.Alpha),
		host[0], emuType(g.AType), C.int(g.LDA), C.longlong(g.StrideA),
		host[1], emuType(g.BType), C.int(g.LDB), C.longlong(g.StrideB),
		C.float(g.Beta), (*C.float)(host[2]), C.int(g.LDC), C.longlong(g.StrideC), C.int(batch))
	return nil
}

func pick(t bool, a, b int) int {
	if t {
		return a
	}
	return b
}

// Sync implements gpu.Device (the emulator runs every call to completion).
func (d *Device) Sync() error { return nil }

// Close frees every allocation.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p, a := range d.allocs {
		C.emu_free(a.base, a.mapped)
		delete(d.allocs, p)
	}
	d.used = 0
	d.closed = true
	return nil
}
