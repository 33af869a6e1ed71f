//go:build linux

package driver

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/ebitengine/purego"
)

// EnvLibraryPath names folders searched first for the CUDA libraries (a
// list like $PATH): libcuda.so.1, libnvrtc.so.*, libcublas.so.* and
// libcublasLt.so.*.
const EnvLibraryPath = "MEMSCOPE_CUDA_LIBRARY_PATH"

// library is one shared library the backend needs, by its sonames in
// order of preference.
type library struct {
	what    string   // "CUDA driver"
	sonames []string // "libcuda.so.1"
	// companions are loaded first from the folder the library was found
	// in, so that its own dependencies resolve there (cuBLAS needs
	// cuBLASLt of the same release; NVRTC loads its builtins by soname).
	companions func(dir, soname string) []string
}

var (
	libCUDA   = library{what: "CUDA driver (NVIDIA driver package)", sonames: []string{"libcuda.so.1", "libcuda.so"}}
	libNVRTC  = library{what: "NVRTC (CUDA runtime compiler)", sonames: []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"}, companions: nvrtcBuiltins}
	libCUBLAS = library{what: "cuBLAS", sonames: []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}, companions: cublasLt}
)

func nvrtcBuiltins(dir, _ string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "libnvrtc-builtins.so*"))
	sort.Sort(sort.Reverse(sort.StringSlice(m)))
	return m
}

func cublasLt(dir, soname string) []string {
	lt := filepath.Join(dir, strings.Replace(soname, "libcublas", "libcublasLt", 1))
	if _, err := os.Stat(lt); err == nil {
		return []string{lt}
	}
	return nil
}

// SearchDirs lists the folders searched for the CUDA libraries, in order:
// $MEMSCOPE_CUDA_LIBRARY_PATH, $CUDA_PATH and $CUDA_HOME, /usr/local/cuda,
// the pip wheels' site-packages/nvidia/*/lib of the Python environments
// found ($VIRTUAL_ENV, $CONDA_PREFIX, each python3 on $PATH, ~/.local,
// the system's), $LD_LIBRARY_PATH, and the driver's usual folders. After
// these, the dynamic loader's own search (ld.so.cache) is tried.
func SearchDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		if d == "" || seen[d] {
			return
		}
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return
		}
		seen[d] = true
		dirs = append(dirs, d)
	}
	for _, d := range filepath.SplitList(os.Getenv(EnvLibraryPath)) {
		add(d)
	}
	arch := map[string]string{"amd64": "x86_64-linux", "arm64": "sbsa-linux"}[runtime.GOARCH]
	for _, root := range []string{os.Getenv("CUDA_PATH"), os.Getenv("CUDA_HOME"), "/usr/local/cuda"} {
		if root == "" {
			continue
		}
		add(filepath.Join(root, "lib64"))
		add(filepath.Join(root, "lib"))
		add(filepath.Join(root, "targets", arch, "lib"))
	}
	for _, sp := range sitePackages() {
		libs, _ := filepath.Glob(filepath.Join(sp, "nvidia", "*", "lib"))
		sort.Strings(libs)
		for _, l := range libs {
			add(l)
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		add(d)
	}
	for _, d := range []string{"/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib"} {
		add(d)
	}
	return dirs
}

// sitePackages finds Python site-packages folders where pip installs
// NVIDIA's wheels (nvidia-cublas, nvidia-cuda-nvrtc, ...), without running
// Python.
func sitePackages() []string {
	var prefixes []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := os.Getenv(v); p != "" {
			prefixes = append(prefixes, p)
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "python3")); err == nil {
			prefixes = append(prefixes, filepath.Dir(d))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		prefixes = append(prefixes, filepath.Join(home, ".local"))
	}
	prefixes = append(prefixes, "/usr/local", "/usr")
	var out []string
	for _, p := range prefixes {
		for _, pattern := range []string{"lib/python3*/site-packages", "lib/python3*/dist-packages", "lib/python3/dist-packages"} {
			m, _ := filepath.Glob(filepath.Join(p, pattern))
			sort.Sort(sort.Reverse(sort.StringSlice(m))) // newest Python first
			out = append(out, m...)
		}
	}
	return out
}

// opened is a loaded library.
type opened struct {
	handle uintptr
	path   string // the file, or the soname the loader resolved
}

// open loads the library from the first search folder holding one of its
// sonames, else by soname through the dynamic loader. The error says
// what was tried.
func (l library) open(dirs []string) (opened, error) {
	var tried []string
	for _, d := range dirs {
		for _, so := range l.sonames {
			p := filepath.Join(d, so)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if l.companions != nil {
				for _, c := range l.companions(d, so) {
					purego.Dlopen(c, purego.RTLD_NOW|purego.RTLD_GLOBAL) // best effort: the library says what is missing
				}
			}
			h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err == nil {
				return opened{h, p}, nil
			}
			tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
		}
	}
	for _, so := range l.sonames {
		h, err := purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return opened{h, so}, nil
		}
	}
	msg := fmt.Sprintf("%s not found: none of %s in %s, nor through the dynamic loader (ld.so.cache, LD_LIBRARY_PATH)",
		l.what, strings.Join(l.sonames, ", "), dirList(dirs))
	if len(tried) > 0 {
		msg += "; failed to load " + strings.Join(tried, "; ")
	}
	return opened{}, fmt.Errorf("%s", msg)
}

func dirList(dirs []string) string {
	if len(dirs) == 0 {
		return "no search folder"
	}
	if len(dirs) > 6 {
		return strings.Join(dirs[:6], ", ") + fmt.Sprintf(" and %d more folders", len(dirs)-6)
	}
	return strings.Join(dirs, ", ")
}

// symbols resolves each name into its pointer; the first missing one is
// an error (a library too old for memscope).
func symbols(lib opened, what string, syms map[string]*uintptr) error {
	for name, p := range syms {
		addr, err := purego.Dlsym(lib.handle, name)
		if err != nil || addr == 0 {
			return fmt.Errorf("%s %s has no %s: it is too old (memscope needs CUDA 11.2 or newer)", what, lib.path, name)
		}
		*p = addr
	}
	return nil
}
