//go:build cgo

package cpu

import (
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
	"github.com/stretchr/testify/assert"
)

// On AMD Zen 4, OpenBLAS must not run its AVX-512 kernels (slower there)
// unless the user asked for them with OPENBLAS_CORETYPE.
func TestOpenBLASKernelChoice(t *testing.T) {
	info := BLASInfo()
	t.Logf("%s on %s (%s)", info, cpuid.CPU.BrandName, cpuid.CPU.VendorString)
	if userCoreType != "" || cpuid.CPU.VendorID != cpuid.AMD || cpuid.CPU.Family != 0x19 || !cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		t.Skipf("only checked on AMD Zen 4 (family 0x19, this is 0x%x) with OPENBLAS_CORETYPE unset (it is %q)", cpuid.CPU.Family, userCoreType)
	}
	for _, avx512 := range []string{"cooperlake", "skylakex", "sapphirerapids"} {
		assert.NotContains(t, strings.ToLower(info), avx512)
	}
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
