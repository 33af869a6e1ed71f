package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Feature sets of real CPUs, as cpuid reports them.
var (
	noAVX     = cpuFeatures{}                                  // Nehalem
	avxOnly   = cpuFeatures{AVX: true}                         // Sandy Bridge
	avx2      = cpuFeatures{AVX: true, AVX2: true, FMA3: true} // Haswell … Alder Lake
	avx512    = cpuFeatures{AVX: true, AVX2: true, FMA3: true, AVX512F: true, AVX512DQ: true, AVX512BW: true, AVX512VL: true}
	avx512F   = cpuFeatures{AVX: true, AVX2: true, FMA3: true, AVX512F: true} // Knights Landing: no BW/VL/DQ
	bf16      = withBF16(avx512)                                              // Cooper Lake, Sapphire/Emerald Rapids
	zen3      = cpuFeatures{AMD: true, Family: 0x19, AVX: true, AVX2: true, FMA3: true}
	zen4      = withBF16(cpuFeatures{AMD: true, Family: 0x19, AVX: true, AVX2: true, FMA3: true, AVX512F: true, AVX512DQ: true, AVX512BW: true, AVX512VL: true})
	zen5      = withBF16(cpuFeatures{AMD: true, Family: 0x1a, AVX: true, AVX2: true, FMA3: true, AVX512F: true, AVX512DQ: true, AVX512BW: true, AVX512VL: true})
	excavator = cpuFeatures{AMD: true, Family: 0x15, AVX: true, AVX2: true, FMA3: true}
)

func withBF16(f cpuFeatures) cpuFeatures { f.AVX512BF16 = true; return f }

func TestPlanKernels(t *testing.T) {
	for _, c := range []struct {
		name      string
		user, lib string
		cpu       cpuFeatures
		try       []string // nil: OpenBLAS's choice stays
		warn      bool
	}{
		// OpenBLAS 0.3.21 on an Emerald Rapids Xeon (family 6 model 207).
		{"emerald rapids, generic", "", "Prescott", bf16, []string{"Cooperlake", "SkylakeX", "Haswell"}, false},
		{"skylake-sp, generic", "", "Prescott", avx512, []string{"SkylakeX", "Haswell"}, false},
		{"skylake-sp, nehalem fallback", "", "Nehalem", avx512, []string{"SkylakeX", "Haswell"}, false},
		{"skylake-sp, known", "", "SkylakeX", avx512, nil, false},
		{"sapphire rapids, known", "", "SapphireRapids", bf16, nil, false},
		{"cooper lake, known", "", "Cooperlake", bf16, nil, false},
		{"avx-512 F only: not enough for SkylakeX", "", "Prescott", avx512F, []string{"Haswell"}, false},
		{"avx2, generic", "", "Core2", avx2, []string{"Haswell"}, false},
		{"avx2, sandybridge fallback", "", "Sandybridge", avx2, []string{"Haswell"}, false},
		{"avx2, known", "", "Haswell", avx2, nil, false},
		{"avx only, generic", "", "Prescott", avxOnly, []string{"Sandybridge"}, false},
		{"avx only, known", "", "Sandybridge", avxOnly, nil, false},
		{"old cpu: generic is right", "", "Nehalem", noAVX, nil, false},
		{"old cpu, katmai", "", "Katmai", noAVX, nil, false},
		{"zen 4, skylakex", "", "SkylakeX", zen4, []string{"Haswell"}, false},
		{"zen 4, cooperlake", "", "Cooperlake", zen4, []string{"Haswell"}, false},
		{"zen 4, generic", "", "Prescott", zen4, []string{"Haswell"}, false},
		{"zen 4, haswell", "", "Haswell", zen4, nil, false},
		{"zen 4, zen", "", "Zen", zen4, nil, false},
		{"zen 5 keeps avx-512", "", "Cooperlake", zen5, nil, false},
		{"zen 5, generic", "", "Prescott", zen5, []string{"Cooperlake", "SkylakeX", "Haswell"}, false},
		{"zen 3, zen", "", "Zen", zen3, nil, false},
		{"zen 3, generic", "", "Prescott", zen3, []string{"Haswell"}, false},
		{"excavator keeps its own set", "", "Excavator", excavator, nil, false},
		{"not OpenBLAS", "", "", bf16, nil, false},
		{"case does not matter", "", "PRESCOTT", avx2, []string{"Haswell"}, false},
		// A user's OPENBLAS_CORETYPE always wins; a generic one is warned about.
		{"user haswell on emerald rapids", "Haswell", "Haswell", bf16, nil, false},
		{"user skylakex on zen 4", "SkylakeX", "SkylakeX", zen4, nil, false},
		{"user prescott on emerald rapids", "Prescott", "Prescott", bf16, nil, true},
		{"user typo: OpenBLAS fell back", "Skylake", "Prescott", bf16, nil, true},
		{"user prescott on an old cpu", "Prescott", "Prescott", noAVX, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := planKernels(c.user, c.lib, c.cpu)
			assert.Equal(t, c.try, p.Try)
			assert.Equal(t, c.try != nil, p.Why != "", "a switch says why: %q", p.Why)
			if c.warn {
				assert.Contains(t, p.Warning, "OPENBLAS_CORETYPE="+c.user)
			} else {
				assert.Empty(t, p.Warning)
			}
		})
	}
}

func TestPlanKernelsWhy(t *testing.T) {
	p := planKernels("", "Prescott", bf16)
	assert.Equal(t, "OpenBLAS does not know this CPU and picked its generic Prescott kernels; the CPU has AVX-512 (F, DQ, BW, VL) with BF16", p.Why)
	p = planKernels("", "Sandybridge", avx2)
	assert.Contains(t, p.Why, "first-generation AVX Sandybridge kernels; the CPU has AVX2 and FMA")
	p = planKernels("", "SkylakeX", zen4)
	assert.Contains(t, p.Why, "AMD Zen 4 runs AVX-512 at half width")
}

func TestSettleKernels(t *testing.T) {
	generic := planKernels("", "Prescott", bf16)

	chosen, warn := settleKernels(generic, "", "Prescott", "Cooperlake", true, bf16)
	assert.Equal(t, "by memscope: "+generic.Why, chosen)
	assert.Empty(t, warn)

	// An OpenBLAS without DYNAMIC_ARCH cannot switch: say so, and what to do.
	chosen, warn = settleKernels(generic, "", "Prescott", "Prescott", false, bf16)
	assert.Contains(t, chosen, "by OpenBLAS; memscope could not switch to Cooperlake or SkylakeX or Haswell")
	assert.Contains(t, warn, "OpenBLAS runs its Prescott kernels on this CPU (AVX-512 (F, DQ, BW, VL) with BF16)")
	assert.Contains(t, warn, "DYNAMIC_ARCH")

	// Zen 4 left on AVX-512: said, not warned (about 1.5×, not 4×).
	zen := planKernels("", "SkylakeX", zen4)
	chosen, warn = settleKernels(zen, "", "SkylakeX", "SkylakeX", false, zen4)
	assert.Contains(t, chosen, "could not switch to Haswell")
	assert.Empty(t, warn)

	chosen, warn = settleKernels(kernelPlan{}, "", "Haswell", "Haswell", false, avx2)
	assert.Equal(t, "by OpenBLAS", chosen)
	assert.Empty(t, warn)

	user := planKernels("Prescott", "Prescott", bf16)
	chosen, warn = settleKernels(user, "Prescott", "Prescott", "Prescott", false, bf16)
	assert.Equal(t, "by OPENBLAS_CORETYPE=Prescott", chosen)
	assert.Equal(t, user.Warning, warn)
}

func TestBLASSetupString(t *testing.T) {
	assert.Equal(t, "OpenBLAS 0.3.21, Cooperlake kernels (chosen by memscope: x)",
		BLASSetup{Library: "OpenBLAS 0.3.21", Kernels: "Cooperlake", Chosen: "by memscope: x"}.String())
	assert.Equal(t, "CBLAS (cgo)", BLASSetup{Library: "CBLAS (cgo)"}.String())
}
