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

static const char *ms_config(void) {
	char *(*f)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
	return f ? f() : "";
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

var (
	blasSetup sync.Once
	blasState BLASSetup
)

// userCoreType is OPENBLAS_CORETYPE as the process started with (setupBLAS
// may set it).
var userCoreType = os.Getenv("OPENBLAS_CORETYPE")

// setupBLAS is called by every Load before the first BLAS call. It
// switches OpenBLAS's kernels when planKernels says so (a generic set on
// a CPU OpenBLAS does not know; AVX-512 on AMD Zen 4).
func setupBLAS() {
	blasSetup.Do(func() {
		f := hostFeatures()
		libCore := blasCoreName()
		plan := planKernels(userCoreType, libCore, f)
		switched := false
		for _, name := range plan.Try {
			// An OpenBLAS that lacks a set (Cooperlake before 0.3.11)
			// falls back to its own choice: then try the next.
			if forceCore(name) && strings.EqualFold(blasCoreName(), name) {
				switched = true
				break
			}
		}
		final := blasCoreName()
		if !switched && len(plan.Try) > 0 && final != libCore && libCore != "" {
			forceCore(libCore) // a failed try left something else: back to the library's choice
			final = blasCoreName()
		}
		blasState = BLASSetup{Library: blasLibrary(), Kernels: final}
		blasState.Chosen, blasState.Warning = settleKernels(plan, userCoreType, libCore, final, switched, f)
		if final == "" {
			blasState.Chosen = "" // a CBLAS that names no kernels: nothing was chosen
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

// blasConfig is OpenBLAS's build description ("OpenBLAS 0.3.21
// NO_LAPACKE DYNAMIC_ARCH …"), or "".
func blasConfig() string { return C.GoString(C.ms_config()) }

// blasLibrary is "OpenBLAS 0.3.21" (from openblas_get_config), else "CBLAS (cgo)".
func blasLibrary() string {
	f := strings.Fields(blasConfig())
	if len(f) >= 2 && f[0] == "OpenBLAS" {
		return f[0] + " " + f[1]
	}
	if len(f) >= 1 && f[0] == "OpenBLAS" {
		return "OpenBLAS"
	}
	return "CBLAS (cgo)"
}

// BLAS says which library and kernels do the matrix products and how they
// were chosen (making that choice first if no model was loaded yet).
func BLAS() BLASSetup {
	setupBLAS()
	return blasState
}

// BLASInfo describes the matrix-product backend in one line, e.g.
// "OpenBLAS 0.3.21, Haswell kernels (chosen by OpenBLAS)".
func BLASInfo() string { return BLAS().String() }
