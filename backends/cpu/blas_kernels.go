package cpu

import (
	"fmt"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// BLASSetup says which library does the matrix products, which of its
// kernel sets runs and who chose it. It is what `memscope backends` shows
// and what every run records in its provenance.
type BLASSetup struct {
	Library string // "OpenBLAS 0.3.21", "gonum pure-Go BLAS"
	Kernels string // OpenBLAS's kernel set ("SkylakeX"); "" when the library has none to name
	Chosen  string // how the kernels were chosen: "by OpenBLAS", "by memscope: …", "by OPENBLAS_CORETYPE"
	// Warning is set when matrix products run on slower kernels than this
	// CPU allows and memscope could not change that; it says what to do.
	Warning string
}

// String is one line: "OpenBLAS 0.3.21, Cooperlake kernels (chosen by
// memscope: …)".
func (s BLASSetup) String() string {
	out := s.Library
	if s.Kernels != "" {
		out += ", " + s.Kernels + " kernels"
	}
	if s.Chosen != "" {
		out += " (chosen " + s.Chosen + ")"
	}
	return out
}

// cpuFeatures is what the kernel choice looks at. cpuid reports an
// AVX/AVX-512 feature only when the OS also saves its registers.
type cpuFeatures struct {
	AMD    bool // AuthenticAMD
	Family int  // cpuid family (AMD Zen 4 is 0x19 with AVX-512)

	AVX, AVX2, FMA3                                   bool
	AVX512F, AVX512DQ, AVX512BW, AVX512VL, AVX512BF16 bool
}

func hostFeatures() cpuFeatures {
	c := &cpuid.CPU
	return cpuFeatures{
		AMD:        c.VendorID == cpuid.AMD,
		Family:     c.Family,
		AVX:        c.Supports(cpuid.AVX),
		AVX2:       c.Supports(cpuid.AVX2),
		FMA3:       c.Supports(cpuid.FMA3),
		AVX512F:    c.Supports(cpuid.AVX512F),
		AVX512DQ:   c.Supports(cpuid.AVX512DQ),
		AVX512BW:   c.Supports(cpuid.AVX512BW),
		AVX512VL:   c.Supports(cpuid.AVX512VL),
		AVX512BF16: c.Supports(cpuid.AVX512BF16),
	}
}

// avx512 reports the AVX-512 subsets OpenBLAS's SkylakeX kernels use.
func (f cpuFeatures) avx512() bool { return f.AVX512F && f.AVX512DQ && f.AVX512BW && f.AVX512VL }

// zen4 is AMD family 0x19 with AVX-512: it runs AVX-512 double-pumped.
func (f cpuFeatures) zen4() bool { return f.AMD && f.Family == 0x19 && f.avx512() }

// describe names the features that decided, e.g. "AVX-512 (F, DQ, BW, VL)
// with BF16".
func (f cpuFeatures) describe() string {
	switch {
	case f.avx512() && f.AVX512BF16:
		return "AVX-512 (F, DQ, BW, VL) with BF16"
	case f.avx512():
		return "AVX-512 (F, DQ, BW, VL)"
	case f.AVX2 && f.FMA3:
		return "AVX2 and FMA"
	case f.AVX:
		return "AVX but not AVX2 and FMA"
	}
	return "no AVX"
}

// bestKernels lists the OpenBLAS kernel sets this CPU runs fastest, best
// first (a set an older OpenBLAS lacks is skipped for the next), and the
// level of instructions they use.
func (f cpuFeatures) bestKernels() ([]string, kernelLevel) {
	switch {
	case f.zen4():
		// 30–55% faster than OpenBLAS's AVX-512 kernels on Zen 4 at our
		// shapes; Zen 5 has full 512-bit units and keeps AVX-512.
		return []string{"Haswell"}, levelAVX2
	case f.avx512() && f.AVX512BF16:
		return []string{"Cooperlake", "SkylakeX", "Haswell"}, levelAVX512
	case f.avx512():
		return []string{"SkylakeX", "Haswell"}, levelAVX512
	case f.AVX2 && f.FMA3:
		return []string{"Haswell"}, levelAVX2
	case f.AVX:
		return []string{"Sandybridge"}, levelAVX
	}
	return nil, levelGeneric
}

// kernelLevel orders OpenBLAS's x86-64 kernel sets by the instructions
// they use.
type kernelLevel int

const (
	levelGeneric kernelLevel = iota // SSE only
	levelAVX
	levelAVX2
	levelAVX512
)

// fallbackSets are the kernel sets OpenBLAS falls back to on a CPU it
// does not know (e.g. Prescott on Intel family 6 model 207 with 0.3.21):
// its generic SSE sets and Intel's first AVX set. AMD's own sets
// (Bulldozer … Zen) are chosen on purpose for those CPUs and stay.
var fallbackSets = map[string]kernelLevel{
	"katmai": levelGeneric, "coppermine": levelGeneric, "northwood": levelGeneric,
	"prescott": levelGeneric, "banias": levelGeneric, "atom": levelGeneric,
	"core2": levelGeneric, "penryn": levelGeneric, "dunnington": levelGeneric,
	"nehalem": levelGeneric, "athlon": levelGeneric, "opteron": levelGeneric,
	"opteron_sse3": levelGeneric, "barcelona": levelGeneric, "nano": levelGeneric,
	"bobcat": levelGeneric, "unknown": levelGeneric,
	"sandybridge": levelAVX,
}

// avx512Sets are OpenBLAS's AVX-512 kernel sets.
var avx512Sets = []string{"skylakex", "cooperlake", "sapphirerapids"}

// isGenericKernels reports whether name is one of OpenBLAS's SSE-only sets.
func isGenericKernels(name string) bool {
	l, ok := fallbackSets[strings.ToLower(name)]
	return ok && l == levelGeneric
}

// kernelPlan is what to do about OpenBLAS's kernel choice.
type kernelPlan struct {
	Try []string // kernel sets to switch to, best first; empty: keep the library's
	Why string   // why the switch: "OpenBLAS picked its generic Prescott kernels; this CPU has …"
	// Warning is set when the kernels stay slower than the CPU allows.
	Warning string
}

// planKernels decides whether to override OpenBLAS's own kernel choice
// (libCore, from openblas_get_corename) for a CPU with features f. A
// user's OPENBLAS_CORETYPE (userCoreType) always wins. It switches when
// OpenBLAS fell back to a generic set on a CPU that can do better, and on
// AMD Zen 4 away from AVX-512.
func planKernels(userCoreType, libCore string, f cpuFeatures) kernelPlan {
	best, level := f.bestKernels()
	lib := strings.ToLower(libCore)
	if userCoreType != "" {
		p := kernelPlan{}
		if isGenericKernels(libCore) && level > levelGeneric {
			p.Warning = fmt.Sprintf("OPENBLAS_CORETYPE=%s runs OpenBLAS's generic %s kernels, several times slower than %s on this CPU (%s); unset it to let memscope choose",
				userCoreType, libCore, best[0], f.describe())
		}
		return p
	}
	if f.zen4() {
		for _, s := range avx512Sets {
			if lib == s {
				return kernelPlan{Try: best, Why: fmt.Sprintf("OpenBLAS picked %s, but AMD Zen 4 runs AVX-512 at half width and its AVX2 kernels are faster", libCore)}
			}
		}
	}
	libLevel, fellBack := fallbackSets[lib]
	if !fellBack || libLevel >= level {
		return kernelPlan{}
	}
	what := "generic " + libCore
	if libLevel == levelAVX {
		what = "first-generation AVX " + libCore
	}
	return kernelPlan{Try: best, Why: fmt.Sprintf("OpenBLAS does not know this CPU and picked its %s kernels; the CPU has %s", what, f.describe())}
}

// settleKernels is the outcome of plan once the switch was tried: final
// is the kernel set OpenBLAS reports now, switched whether it is one plan
// asked for (false also when switching is impossible: OpenBLAS built
// without DYNAMIC_ARCH).
func settleKernels(plan kernelPlan, userCoreType, libCore, final string, switched bool, f cpuFeatures) (chosen, warning string) {
	switch {
	case userCoreType != "":
		return "by OPENBLAS_CORETYPE=" + userCoreType, plan.Warning
	case len(plan.Try) == 0:
		return "by OpenBLAS", ""
	case switched:
		return "by memscope: " + plan.Why, ""
	}
	chosen = "by OpenBLAS; memscope could not switch to " + strings.Join(plan.Try, " or ") + " (this OpenBLAS has no run-time kernel selection, DYNAMIC_ARCH)"
	if _, fellBack := fallbackSets[strings.ToLower(libCore)]; fellBack {
		// On Zen 4 the AVX-512 kernels that stay are about 1.5× slower:
		// said in chosen, not worth a warning at every start.
		warning = fmt.Sprintf("OpenBLAS runs its %s kernels on this CPU (%s): matrix products run several times slower than with %s. "+
			"Install an OpenBLAS built with DYNAMIC_ARCH (Debian/Ubuntu: libopenblas-dev) or one built for this CPU, or a newer OpenBLAS that knows it",
			final, f.describe(), plan.Try[0])
	}
	return chosen, warning
}
