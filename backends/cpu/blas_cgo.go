//go:build cgo

package cpu

/*
#cgo LDFLAGS: -lopenblas -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

// The OpenBLAS extensions are looked up at run time so that any CBLAS
// OpenBLAS build links, with or without them.
static int ms_set_threads(int n) {
	void (*f)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (!f) return 0;
	f(n);
	return 1;
}

static const char *ms_corename(void) {
	char *(*f)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
	return f ? f() : "";
}

// ms_force_core re-runs OpenBLAS's DYNAMIC_ARCH kernel selection with
// OPENBLAS_CORETYPE set. That variable is read only when the library
// initializes, which happens before any Go code runs; gotoblas_dynamic_quit
// and gotoblas_dynamic_init are the (exported) functions that do the
// selection, so calling them again before the first BLAS call is the same
// as having set the variable at start. Returns 0 when the library is not a
// DYNAMIC_ARCH build.
static int ms_force_core(const char *name) {
	void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
	void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
	if (!quit || !init) return 0;
	setenv("OPENBLAS_CORETYPE", name, 1);
	quit();
	init();
	return 1;
}
*/
import "C"

import (
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/tensor"
)

// usesCgoBLAS reports whether matrix products go to OpenBLAS.
const usesCgoBLAS = true

func init() {
	// gorgonia's tensor engine (and so every gorgonia op) uses OpenBLAS;
	// the engine's hot path calls the same implementation through
	// tensor.WhichBLAS().
	tensor.Use(netlib.Implementation{})
}

var blasSetup sync.Once

// userCoreType is OPENBLAS_CORETYPE as the process started with (setupBLAS
// may set it).
var userCoreType = os.Getenv("OPENBLAS_CORETYPE")

// setupBLAS is called by every Load before the first BLAS call.
func setupBLAS() {
	blasSetup.Do(func() {
		// OpenBLAS's DYNAMIC_ARCH build picks its AVX-512 (Cooperlake/SkylakeX)
		// kernels on AMD Zen 4 (family 0x19), which runs AVX-512 double-pumped:
		// there they are 30–55% slower than its AVX2 (Haswell) kernels at our
		// shapes (shared/notes/perf-anchors.md). Zen 5 (family 0x1a) has full
		// 512-bit units and the AVX-512 kernels are up to 1.75× faster, so
		// they stay. A user's own OPENBLAS_CORETYPE always wins.
		if userCoreType != "" || cpuid.CPU.VendorID != cpuid.AMD || cpuid.CPU.Family != 0x19 ||
			!cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
			return
		}
		switch strings.ToLower(blasCoreName()) {
		case "cooperlake", "skylakex", "sapphirerapids":
			forceCore("Haswell")
		}
	})
}

// forceCore makes OpenBLAS use the named kernel set (a name OpenBLAS
// knows, e.g. "Haswell"); it reports false for builds without run-time
// kernel selection. It must not run while a BLAS call is in flight.
func forceCore(name string) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.ms_force_core(cs) != 0
}

// setBLASThreads sets OpenBLAS's thread count; it reports false when the
// library has no run-time control.
func setBLASThreads(n int) bool {
	return C.ms_set_threads(C.int(n)) != 0
}

// blasCoreName is the kernel set OpenBLAS uses ("Haswell", "Zen", …), or "".
func blasCoreName() string {
	return strings.TrimSpace(C.GoString(C.ms_corename()))
}

// BLASInfo describes the matrix-product backend, e.g.
// "OpenBLAS (Haswell kernels)".
func BLASInfo() string {
	setupBLAS()
	if n := blasCoreName(); n != "" {
		return "OpenBLAS (" + n + " kernels)"
	}
	return "CBLAS (cgo)"
}
