package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/klauspost/cpuid/v2"

	"github.com/memscope/memscope/backends/cpu"
)

// TestMain prints, before any benchmark, configuration lines (benchfmt's
// "key: value") that say what the timings depend on beside testing's own
// cpu line: the OpenBLAS kernel set, the cpuid family and model (a VM's
// model string is often generic) and the CPU count. benchstat shows them;
// bench/track names the machine class of a history file from them.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		s := cpu.BLAS()
		fmt.Printf("blas: %s\n", s.Library)
		if s.Kernels != "" {
			fmt.Printf("blas-kernels: %s\n", s.Kernels)
		}
		fmt.Printf("cpuid: %s family %d model %d\n", cpuid.CPU.VendorString, cpuid.CPU.Family, cpuid.CPU.Model)
		fmt.Printf("cpus: %d\n", runtime.NumCPU())
		if s.Warning != "" {
			fmt.Fprintln(os.Stderr, "warning:", s.Warning)
		}
	}
	os.Exit(m.Run())
}
