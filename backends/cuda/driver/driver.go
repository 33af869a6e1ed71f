//go:build linux

// Package driver is the gpu.Device of a real NVIDIA GPU, in pure Go: it
// loads the CUDA driver API (libcuda.so.1), NVRTC and cuBLAS at run time
// (github.com/ebitengine/purego's dlopen; calls through a small assembly
// trampoline, call_linux_*.s), compiles backends/cuda/kernels with NVRTC
// for the device's architecture (cached on disk) and runs matrix products
// with cublasGemmStridedBatchedEx in CUBLAS_COMPUTE_32F. No cgo: the
// plugin builds with CGO_ENABLED=0 and runs on any machine with an NVIDIA
// driver and the CUDA libraries (SearchDirs says where they are looked for).
//
// This layer is what the CPU emulator (backends/cuda/emu) does not cover;
// its tests run only where a GPU is present.
package driver

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/cuda/kernels"
)

// Driver API constants (cuda.h).
const (
	cuDevAttrComputeCapabilityMajor = 75
	cuDevAttrComputeCapabilityMinor = 76
	cuErrorOutOfMemory              = 2
)

// cuBLAS constants (cublas_api.h, library_types.h).
const (
	cublasOpN         = 0
	cublasOpT         = 1
	cudaR32F          = 0
	cudaR16F          = 2
	cudaR16BF         = 14
	cublasCompute32F  = 68
	cublasGemmDefault = -1
	cublasDefaultMath = 0
)

// api holds the resolved entry points.
type api struct {
	cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute,
	cuDeviceTotalMem, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize,
	cuMemAlloc, cuMemFree, cuMemcpyHtoD, cuMemcpyDtoH, cuMemcpyDtoD, cuMemsetD8, cuMemGetInfo,
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuLaunchKernel, cuGetErrorString uintptr

	nvrtcVersion, nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetProgramLogSize, nvrtcGetProgramLog,
	nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcGetPTXSize, nvrtcGetPTX, nvrtcDestroyProgram,
	nvrtcGetNumSupportedArchs, nvrtcGetSupportedArchs uintptr

	cublasCreate, cublasDestroy, cublasGetVersion, cublasSetMathMode, cublasGemmStridedBatchedEx uintptr

	paths map[string]string // library → file loaded
}

var (
	loadOnce sync.Once
	loaded   *api
	loadErr  error
)

// libraries loads the three libraries once per process.
func libraries() (*api, error) {
	loadOnce.Do(func() { loaded, loadErr = loadLibraries() })
	return loaded, loadErr
}

func loadLibraries() (*api, error) {
	if !supported {
		return nil, fmt.Errorf("the cuda backend runs on Linux x86-64 and arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	dirs := SearchDirs()
	a := &api{paths: map[string]string{}}
	var missing []string
	cu, err := libCUDA.open(dirs)
	if err != nil {
		missing = append(missing, err.Error())
	} else {
		a.paths["cuda"] = cu.path
		if err := symbols(cu, "libcuda", map[string]*uintptr{
			"cuInit": &a.cuInit, "cuDriverGetVersion": &a.cuDriverGetVersion, "cuDeviceGetCount": &a.cuDeviceGetCount,
			"cuDeviceGet": &a.cuDeviceGet, "cuDeviceGetName": &a.cuDeviceGetName, "cuDeviceGetAttribute": &a.cuDeviceGetAttribute,
			"cuDeviceTotalMem_v2": &a.cuDeviceTotalMem, "cuDevicePrimaryCtxRetain": &a.cuDevicePrimaryCtxRetain,
			"cuDevicePrimaryCtxRelease_v2": &a.cuDevicePrimaryCtxRelease, "cuCtxSetCurrent": &a.cuCtxSetCurrent,
			"cuCtxSynchronize": &a.cuCtxSynchronize, "cuMemAlloc_v2": &a.cuMemAlloc, "cuMemFree_v2": &a.cuMemFree,
			"cuMemcpyHtoD_v2": &a.cuMemcpyHtoD, "cuMemcpyDtoH_v2": &a.cuMemcpyDtoH, "cuMemcpyDtoD_v2": &a.cuMemcpyDtoD,
			"cuMemsetD8_v2": &a.cuMemsetD8, "cuMemGetInfo_v2": &a.cuMemGetInfo, "cuModuleLoadData": &a.cuModuleLoadData,
			"cuModuleUnload": &a.cuModuleUnload, "cuModuleGetFunction": &a.cuModuleGetFunction,
			"cuLaunchKernel": &a.cuLaunchKernel, "cuGetErrorString": &a.cuGetErrorString,
		}); err != nil {
			return nil, err
		}
	}
	nv, err := libNVRTC.open(dirs)
	if err != nil {
		missing = append(missing, err.Error())
	} else {
		a.paths["nvrtc"] = nv.path
		if err := symbols(nv, "libnvrtc", map[string]*uintptr{
			"nvrtcVersion": &a.nvrtcVersion, "nvrtcCreateProgram": &a.nvrtcCreateProgram,
			"nvrtcCompileProgram": &a.nvrtcCompileProgram, "nvrtcGetProgramLogSize": &a.nvrtcGetProgramLogSize,
			"nvrtcGetProgramLog": &a.nvrtcGetProgramLog, "nvrtcGetCUBINSize": &a.nvrtcGetCUBINSize,
			"nvrtcGetCUBIN": &a.nvrtcGetCUBIN, "nvrtcGetPTXSize": &a.nvrtcGetPTXSize, "nvrtcGetPTX": &a.nvrtcGetPTX,
			"nvrtcDestroyProgram": &a.nvrtcDestroyProgram, "nvrtcGetNumSupportedArchs": &a.nvrtcGetNumSupportedArchs,
			"nvrtcGetSupportedArchs": &a.nvrtcGetSupportedArchs,
		}); err != nil {
			return nil, err
		}
	}
	bl, err := libCUBLAS.open(dirs)
	if err != nil {
		missing = append(missing, err.Error())
	} else {
		a.paths["cublas"] = bl.path
		if err := symbols(bl, "libcublas", map[string]*uintptr{
			"cublasCreate_v2": &a.cublasCreate, "cublasDestroy_v2": &a.cublasDestroy,
			"cublasGetVersion_v2": &a.cublasGetVersion, "cublasSetMathMode": &a.cublasSetMathMode,
			"cublasGemmStridedBatchedEx": &a.cublasGemmStridedBatchedEx,
		}); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return nil, &MissingError{Missing: missing}
	}
	if r := call(a.cuInit, 0); r != 0 {
		return nil, fmt.Errorf("cuInit: %s (is the NVIDIA kernel driver loaded? nvidia-smi should list the GPU)", a.errString(r))
	}
	return a, nil
}

// MissingError lists the CUDA libraries that could not be loaded.
type MissingError struct{ Missing []string }

func (e *MissingError) Error() string {
	return "cannot use an NVIDIA GPU: " + strings.Join(e.Missing, "; ") +
		". Install the NVIDIA driver and the CUDA libraries (CUDA toolkit 12 or 13, or `pip install nvidia-cublas nvidia-cuda-nvrtc`), or point $" + EnvLibraryPath + " at their folder"
}

func (a *api) errString(r uintptr) string {
	var s *byte
	if a.cuGetErrorString != 0 && call(a.cuGetErrorString, r, uintptr(unsafe.Pointer(&s))) == 0 && s != nil {
		return fmt.Sprintf("%s (CUresult %d)", goString(s), int32(r))
	}
	return fmt.Sprintf("CUresult %d", int32(r))
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}

func cString(s string) []byte { return append([]byte(s), 0) }

// Probe says whether a GPU can be used: the libraries load, the driver
// initializes and at least one device exists. It returns the devices'
// names, or an error saying exactly what is missing.
func Probe() ([]string, error) {
	a, err := libraries()
	if err != nil {
		return nil, err
	}
	var n int32
	if r := call(a.cuDeviceGetCount, uintptr(unsafe.Pointer(&n))); r != 0 {
		return nil, fmt.Errorf("cuDeviceGetCount: %s", a.errString(r))
	}
	if n == 0 {
		return nil, errors.New("the NVIDIA driver is installed but reports no GPU")
	}
	var names []string
	for i := 0; i < int(n); i++ {
		name, err := a.deviceName(i)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

func (a *api) deviceName(ordinal int) (string, error) {
	var dev int32
	if r := call(a.cuDeviceGet, uintptr(unsafe.Pointer(&dev)), uintptr(ordinal)); r != 0 {
		return "", fmt.Errorf("cuDeviceGet(%d): %s", ordinal, a.errString(r))
	}
	buf := make([]byte, 256)
	if r := call(a.cuDeviceGetName, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(dev)); r != 0 {
		return "", fmt.Errorf("cuDeviceGetName: %s", a.errString(r))
	}
	return goString(&buf[0]), nil
}

// Device is one GPU with its primary context, the compiled kernels and a
// cuBLAS handle. Work goes to the default stream, in order.
type Device struct {
	a       *api
	ordinal int
	dev     int32
	ctx     uintptr
	module  uintptr
	funcs   map[string]uintptr
	blas    uintptr
	info    gpu.Info
	closed  bool
	kernels KernelCache
}

var _ gpu.Device = (*Device)(nil)

// Options configure Open.
type Options struct {
	// CacheDir holds compiled kernels (keyed by source, architecture and
	// NVRTC version); "" disables the disk cache.
	CacheDir string
}

// Open initializes GPU ordinal (--device N), compiles the kernels for it
// and creates a cuBLAS handle.
func Open(ordinal int, opts Options) (*Device, error) {
	a, err := libraries()
	if err != nil {
		return nil, err
	}
	var n int32
	if r := call(a.cuDeviceGetCount, uintptr(unsafe.Pointer(&n))); r != 0 {
		return nil, fmt.Errorf("cuDeviceGetCount: %s", a.errString(r))
	}
	if ordinal < 0 || ordinal >= int(n) {
		return nil, fmt.Errorf("--device %d: this machine has %d NVIDIA GPU(s) (0-%d)", ordinal, n, n-1)
	}
	d := &Device{a: a, ordinal: ordinal, funcs: map[string]uintptr{}, kernels: KernelCache{Dir: opts.CacheDir}}
	if r := call(a.cuDeviceGet, uintptr(unsafe.Pointer(&d.dev)), uintptr(ordinal)); r != 0 {
		return nil, fmt.Errorf("cuDeviceGet(%d): %s", ordinal, a.errString(r))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if r := call(a.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&d.ctx)), uintptr(d.dev)); r != 0 {
		return nil, fmt.Errorf("GPU %d: cuDevicePrimaryCtxRetain: %s", ordinal, a.errString(r))
	}
	if err := d.setCurrent(); err != nil {
		call(a.cuDevicePrimaryCtxRelease, uintptr(d.dev))
		return nil, err
	}
	if err := d.describe(); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.loadKernels(); err != nil {
		d.Close()
		return nil, err
	}
	if r := call(a.cublasCreate, uintptr(unsafe.Pointer(&d.blas))); r != 0 {
		d.Close()
		return nil, fmt.Errorf("cublasCreate: status %d", int32(r))
	}
	// Default math: no TF32 for float32 products (exact float32, as HF
	// with TF32 off); float32 accumulation comes from the compute type.
	if r := call(a.cublasSetMathMode, d.blas, cublasDefaultMath); r != 0 {
		d.Close()
		return nil, fmt.Errorf("cublasSetMathMode: status %d", int32(r))
	}
	return d, nil
}

func (d *Device) setCurrent() error {
	if r := call(d.a.cuCtxSetCurrent, d.ctx); r != 0 {
		return fmt.Errorf("GPU %d: cuCtxSetCurrent: %s", d.ordinal, d.a.errString(r))
	}
	return nil
}

// enter pins the goroutine to its OS thread and makes the device's
// context current there (CUDA contexts are per thread); the returned
// function undoes the pin.
func (d *Device) enter() (func(), error) {
	if d.closed {
		return func() {}, errors.New("the GPU device is closed")
	}
	runtime.LockOSThread()
	if err := d.setCurrent(); err != nil {
		runtime.UnlockOSThread()
		return func() {}, err
	}
	return runtime.UnlockOSThread, nil
}

func (d *Device) describe() error {
	a := d.a
	name, err := a.deviceName(d.ordinal)
	if err != nil {
		return err
	}
	var major, minor, drv int32
	call(a.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&major)), cuDevAttrComputeCapabilityMajor, uintptr(d.dev))
	call(a.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&minor)), cuDevAttrComputeCapabilityMinor, uintptr(d.dev))
	call(a.cuDriverGetVersion, uintptr(unsafe.Pointer(&drv)))
	var total uint64
	if r := call(a.cuDeviceTotalMem, uintptr(unsafe.Pointer(&total)), uintptr(d.dev)); r != 0 {
		return fmt.Errorf("cuDeviceTotalMem: %s", a.errString(r))
	}
	var nvMajor, nvMinor int32
	call(a.nvrtcVersion, uintptr(unsafe.Pointer(&nvMajor)), uintptr(unsafe.Pointer(&nvMinor)))
	d.info = gpu.Info{
		Name:   name,
		Arch:   fmt.Sprintf("sm_%d%d", major, minor),
		Memory: total,
		Detail: fmt.Sprintf("driver CUDA %d.%d, NVRTC %d.%d (%s), cuBLAS %s", drv/1000, drv%1000/10, nvMajor, nvMinor, a.paths["nvrtc"], a.paths["cublas"]),
	}
	return nil
}

// Info implements gpu.Device.
func (d *Device) Info() gpu.Info { return d.info }

func (d *Device) check(what string, r uintptr) error {
	if r == 0 {
		return nil
	}
	err := fmt.Errorf("GPU %d: %s: %s", d.ordinal, what, d.a.errString(r))
	if r == cuErrorOutOfMemory {
		return fmt.Errorf("%w: %w", err, gpu.ErrOutOfMemory)
	}
	return err
}

// MemInfo implements gpu.Device.
func (d *Device) MemInfo() (free, total uint64, err error) {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return 0, 0, err
	}
	var f, t uint64
	err = d.check("cuMemGetInfo", call(d.a.cuMemGetInfo, uintptr(unsafe.Pointer(&f)), uintptr(unsafe.Pointer(&t))))
	return f, t, err
}

// Alloc implements gpu.Device.
func (d *Device) Alloc(bytes int64) (gpu.Ptr, error) {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return 0, err
	}
	var p uint64
	if err := d.check(fmt.Sprintf("cuMemAlloc(%d bytes)", bytes), call(d.a.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(bytes))); err != nil {
		return 0, err
	}
	return gpu.Ptr(p), nil
}

// Free implements gpu.Device.
func (d *Device) Free(p gpu.Ptr) error {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.check("cuMemFree", call(d.a.cuMemFree, uintptr(p)))
}

// Upload implements gpu.Device (synchronous: the host buffer may be
// reused when it returns).
func (d *Device) Upload(dst gpu.Ptr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.check("cuMemcpyHtoD", call(d.a.cuMemcpyHtoD, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(len(src))))
}

// Download implements gpu.Device; it waits for earlier work.
func (d *Device) Download(dst []byte, src gpu.Ptr) error {
	if len(dst) == 0 {
		return nil
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.check("cuMemcpyDtoH", call(d.a.cuMemcpyDtoH, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(len(dst))))
}

// Copy implements gpu.Device.
func (d *Device) Copy(dst, src gpu.Ptr, n int64) error {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.check("cuMemcpyDtoD", call(d.a.cuMemcpyDtoD, uintptr(dst), uintptr(src), uintptr(n)))
}

// Zero implements gpu.Device.
func (d *Device) Zero(dst gpu.Ptr, n int64) error {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.check("cuMemsetD8", call(d.a.cuMemsetD8, uintptr(dst), 0, uintptr(n)))
}

// Launch implements gpu.Device: cuLaunchKernel on the default stream.
// Kernel parameters go as an array of pointers to 8-byte slots (the
// driver reads as many bytes of each as the parameter's type has).
func (d *Device) Launch(kernel string, grid, block gpu.Dim3, shared int, args ...any) error {
	f, ok := d.funcs[kernel]
	if !ok {
		return fmt.Errorf("launch %s: no such kernel", kernel)
	}
	vals := make([]uint64, len(args))
	ptrs := make([]unsafe.Pointer, max(1, len(args)))
	for i, a := range args {
		switch v := a.(type) {
		case gpu.Ptr:
			vals[i] = uint64(v)
		case int32:
			vals[i] = uint64(uint32(v))
		case int64:
			vals[i] = uint64(v)
		case float32:
			vals[i] = uint64(math.Float32bits(v))
		default:
			return fmt.Errorf("launch %s: argument %d has type %T (want gpu.Ptr, int32, int64 or float32)", kernel, i, a)
		}
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	dim := func(v int) uintptr { return uintptr(max(1, v)) }
	r := call(d.a.cuLaunchKernel, f, dim(grid.X), dim(grid.Y), dim(grid.Z), dim(block.X), dim(block.Y), dim(block.Z),
		uintptr(shared), 0, uintptr(unsafe.Pointer(&ptrs[0])), 0)
	runtime.KeepAlive(vals)
	return d.check("launch "+kernel, r)
}

func cudaType(t gpu.DType) uintptr {
	switch t {
	case gpu.F16:
		return cudaR16F
	case gpu.BF16:
		return cudaR16BF
	}
	return cudaR32F
}

// Gemm implements gpu.Device with cublasGemmStridedBatchedEx, float32
// output and CUBLAS_COMPUTE_32F.
func (d *Device) Gemm(g gpu.Gemm) error {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	op := func(t bool) uintptr {
		if t {
			return cublasOpT
		}
		return cublasOpN
	}
	alpha, beta := g.Alpha, g.Beta
	algo := int64(cublasGemmDefault)
	r := call(d.a.cublasGemmStridedBatchedEx, d.blas, op(g.TransA), op(g.TransB),
		uintptr(g.M), uintptr(g.N), uintptr(g.K), uintptr(unsafe.Pointer(&alpha)),
		uintptr(g.A), cudaType(g.AType), uintptr(g.LDA), uintptr(g.StrideA),
		uintptr(g.B), cudaType(g.BType), uintptr(g.LDB), uintptr(g.StrideB),
		uintptr(unsafe.Pointer(&beta)), uintptr(g.C), cudaR32F, uintptr(g.LDC), uintptr(g.StrideC),
		uintptr(max(1, g.Batch)), cublasCompute32F, uintptr(algo))
	if r != 0 {
		return fmt.Errorf("GPU %d: cublasGemmStridedBatchedEx(%d×%d×%d): status %d", d.ordinal, g.M, g.N, g.K, int32(r))
	}
	return nil
}

// Sync implements gpu.Device.
func (d *Device) Sync() error {
	leave, err := d.enter()
	defer leave()
	if err != nil {
		return err
	}
	return d.check("cuCtxSynchronize", call(d.a.cuCtxSynchronize))
}

// Close releases the cuBLAS handle, the kernels and the context.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d.setCurrent()
	if d.blas != 0 {
		call(d.a.cublasDestroy, d.blas)
	}
	if d.module != 0 {
		call(d.a.cuModuleUnload, d.module)
	}
	call(d.a.cuDevicePrimaryCtxRelease, uintptr(d.dev))
	d.closed = true
	return nil
}

// loadKernels compiles (or takes from the cache) the kernels for this
// device and resolves every one of them.
func (d *Device) loadKernels() error {
	image, err := d.kernels.Get(d, kernels.Source, d.info.Arch)
	if err != nil {
		return err
	}
	if r := call(d.a.cuModuleLoadData, uintptr(unsafe.Pointer(&d.module)), uintptr(unsafe.Pointer(&image[0]))); r != 0 {
		return fmt.Errorf("GPU %d: loading the compiled kernels: %s", d.ordinal, d.a.errString(r))
	}
	for _, name := range kernels.Names() {
		var f uintptr
		cname := cString(name)
		if r := call(d.a.cuModuleGetFunction, uintptr(unsafe.Pointer(&f)), d.module, uintptr(unsafe.Pointer(&cname[0]))); r != 0 {
			return fmt.Errorf("GPU %d: kernel %s: %s", d.ordinal, name, d.a.errString(r))
		}
		d.funcs[name] = f
	}
	return nil
}
