//go:build linux

package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// KernelCache compiles the kernel source with NVRTC for one architecture
// and keeps the result on disk, keyed by the source, the options and the
// NVRTC version: compiling takes seconds, loading a cached image none.
type KernelCache struct {
	Dir string // "" means compile every time
}

// target picks what to compile for: the device's own architecture as a
// cubin when this NVRTC knows it, else PTX for the newest architecture it
// knows, which the driver compiles further at load.
func (d *Device) target(arch string) (string, bool, error) {
	a := d.a
	var n int32
	if r := call(a.nvrtcGetNumSupportedArchs, uintptr(unsafe.Pointer(&n))); r != 0 || n <= 0 {
		return "--gpu-architecture=" + arch, true, nil // older NVRTC: try the device's own
	}
	archs := make([]int32, n)
	if r := call(a.nvrtcGetSupportedArchs, uintptr(unsafe.Pointer(&archs[0]))); r != 0 {
		return "", false, fmt.Errorf("nvrtcGetSupportedArchs: error %d", int32(r))
	}
	want, err := strconv.Atoi(strings.TrimPrefix(arch, "sm_"))
	if err != nil {
		return "", false, fmt.Errorf("device architecture %q", arch)
	}
	if slices.Contains(archs, int32(want)) {
		return "--gpu-architecture=" + arch, true, nil
	}
	best := int32(0)
	for _, x := range archs {
		if int(x) <= want && x > best {
			best = x
		}
	}
	if best == 0 {
		return "", false, fmt.Errorf("this NVRTC compiles for %v, none at or below the GPU's %s: install a CUDA toolkit that supports it", archs, arch)
	}
	return fmt.Sprintf("--gpu-architecture=compute_%d", best), false, nil
}

// Get returns a module image (cubin, or NUL-terminated PTX) of source for
// the device.
func (c KernelCache) Get(d *Device, source, arch string) ([]byte, error) {
	a := d.a
	archOpt, cubin, err := d.target(arch)
	if err != nil {
		return nil, err
	}
	opts := []string{archOpt, "--std=c++17"}
	var major, minor int32
	call(a.nvrtcVersion, uintptr(unsafe.Pointer(&major)), uintptr(unsafe.Pointer(&minor)))
	h := sha256.New()
	fmt.Fprintf(h, "nvrtc %d.%d\n%s\n", major, minor, strings.Join(opts, " "))
	h.Write([]byte(source))
	key := hex.EncodeToString(h.Sum(nil))[:24]
	ext := ".ptx"
	if cubin {
		ext = ".cubin"
	}
	path := ""
	if c.Dir != "" {
		path = filepath.Join(c.Dir, arch+"-"+key+ext)
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	image, err := compile(a, source, opts, cubin)
	if err != nil {
		return nil, err
	}
	if path != "" {
		// Best effort, written whole or not at all: a failed write only
		// costs the next load a compilation.
		if err := os.MkdirAll(c.Dir, 0o755); err == nil {
			tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
			if os.WriteFile(tmp, image, 0o644) == nil {
				os.Rename(tmp, path)
			}
		}
	}
	return image, nil
}

func compile(a *api, source string, opts []string, cubin bool) ([]byte, error) {
	var prog uintptr
	src, name := cString(source), cString("memscope_kernels.cu")
	if r := call(a.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)), uintptr(unsafe.Pointer(&src[0])),
		uintptr(unsafe.Pointer(&name[0])), 0, 0, 0); r != 0 {
		return nil, fmt.Errorf("nvrtcCreateProgram: error %d", int32(r))
	}
	defer call(a.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog)))
	cOpts := make([][]byte, len(opts))
	ptrs := make([]uintptr, len(opts))
	for i, o := range opts {
		cOpts[i] = cString(o)
		ptrs[i] = uintptr(unsafe.Pointer(&cOpts[i][0]))
	}
	r := call(a.nvrtcCompileProgram, prog, uintptr(len(opts)), uintptr(unsafe.Pointer(&ptrs[0])))
	keep(cOpts)
	if r != 0 {
		var n uint64
		call(a.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&n)))
		log := make([]byte, max(n, 1))
		call(a.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&log[0])))
		return nil, fmt.Errorf("NVRTC could not compile the kernels (%s): %s", strings.Join(opts, " "), strings.TrimRight(string(log), "\x00\n"))
	}
	sizeFn, getFn := a.nvrtcGetPTXSize, a.nvrtcGetPTX
	if cubin {
		sizeFn, getFn = a.nvrtcGetCUBINSize, a.nvrtcGetCUBIN
	}
	var n uint64
	if r := call(sizeFn, prog, uintptr(unsafe.Pointer(&n))); r != 0 || n == 0 {
		return nil, fmt.Errorf("NVRTC: no compiled image (error %d)", int32(r))
	}
	image := make([]byte, n)
	if r := call(getFn, prog, uintptr(unsafe.Pointer(&image[0]))); r != 0 {
		return nil, fmt.Errorf("NVRTC: reading the compiled image: error %d", int32(r))
	}
	return image, nil
}

// keep holds the option strings until the compiler has read them.
//
//go:noinline
func keep(v [][]byte) { _ = v }
