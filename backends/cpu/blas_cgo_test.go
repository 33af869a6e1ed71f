//go:build cgo

package cpu

import (
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
	"github.com/stretchr/testify/assert"
)

// On this machine the kernels in use are the ones planKernels asked for:
// not a generic set where the CPU can do better (the Xeon of issue 11 got
// Prescott from OpenBLAS 0.3.21), not AVX-512 on AMD Zen 4.
func TestOpenBLASKernelChoice(t *testing.T) {
	s := BLAS()
	f := hostFeatures()
	t.Logf("%s on %s (%s, family 0x%x: %s)", s, cpuid.CPU.BrandName, cpuid.CPU.VendorString, cpuid.CPU.Family, f.describe())
	if s.Kernels == "" {
		t.Skipf("%s names no kernel set (not OpenBLAS)", s.Library)
	}
	if userCoreType != "" {
		t.Skipf("OPENBLAS_CORETYPE=%s is set: the user's choice stands (%s)", userCoreType, s.Chosen)
	}
	if !strings.Contains(blasConfig(), "DYNAMIC_ARCH") {
		t.Skipf("%s is not a DYNAMIC_ARCH build: its kernels cannot be switched", blasConfig())
	}
	if _, level := f.bestKernels(); level > levelGeneric {
		assert.False(t, isGenericKernels(s.Kernels), "generic kernels on a CPU with %s", f.describe())
	}
	if f.zen4() {
		for _, avx512 := range avx512Sets {
			assert.NotEqual(t, avx512, strings.ToLower(s.Kernels))
		}
	}
	assert.Empty(t, s.Warning)
	assert.NotEmpty(t, s.Chosen)
	assert.True(t, strings.HasPrefix(s.Library, "OpenBLAS "), s.Library)
}

// The run-time kernel switch works (whatever this CPU is): OpenBLAS then
// reports the forced kernels and still multiplies correctly.
func TestForceCore(t *testing.T) {
	setupBLAS()
	orig := blasCoreName()
	if orig == "" {
		t.Skip("OpenBLAS without openblas_get_corename")
	}
	if !forceCore("Haswell") {
		t.Skip("OpenBLAS build without run-time kernel selection")
	}
	defer func() {
		forceCore(orig)
		assert.Equal(t, orig, blasCoreName())
	}()
	assert.Equal(t, "Haswell", blasCoreName())
	a := []float32{1, 2, 3, 4, 5, 6}   // 2×3
	b := []float32{1, 0, 1, 0, 1, 0.5} // 2×3
	c := make([]float32, 4)
	MatMulT(2, 2, 3, a, b, c, 1)
	assert.Equal(t, []float32{4, 3.5, 10, 8}, c)
}
