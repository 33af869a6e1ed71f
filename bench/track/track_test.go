package track

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const output = `blas: OpenBLAS 0.3.21
blas-kernels: Cooperlake
cpuid: GenuineIntel family 6 model 207
cpus: 2
goos: linux
goarch: amd64
pkg: github.com/memscope/memscope/bench
cpu: Intel(R) Xeon(R) Processor
BenchmarkForwardPythia160M-2   	       2	 850000000 ns/op	       602.3 tokens/s	124049388 B/op	    1841 allocs/op
BenchmarkForwardPythia160M-2   	       2	 860000000 ns/op	       595.3 tokens/s	124049388 B/op	    1841 allocs/op
BenchmarkGEMMPythia160M/M=8/qkv-768x2304-2           	     100	   366633 ns/op	         77.22 GFLOP/s
PASS
ok  	github.com/memscope/memscope/bench	40.1s
`

func TestParse(t *testing.T) {
	runs, err := Parse(strings.NewReader(output), "new.txt")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	r := runs[0]
	assert.Equal(t, "", r.Record)
	assert.Equal(t, []string{"ForwardPythia160M-2", "GEMMPythia160M/M=8/qkv-768x2304-2"}, r.Names)
	assert.InDeltaSlice(t, []float64{0.85, 0.86}, r.SecPerOp["ForwardPythia160M-2"], 1e-12)
	assert.Equal(t, "Cooperlake", r.Config[KeyBLASKernels])
	assert.Equal(t, "Intel(R) Xeon(R) Processor", r.Config[KeyCPU])

	_, err = Parse(strings.NewReader("PASS\nok x 1s\n"), "empty.txt")
	assert.EqualError(t, err, "empty.txt: no benchmark results")
	_, err = Parse(strings.NewReader("BenchmarkX-2 12 notanumber ns/op\n"), "bad.txt")
	assert.ErrorContains(t, err, "bad.txt:1")
}

func TestMachineClass(t *testing.T) {
	runs, err := Parse(strings.NewReader(output), "new.txt")
	require.NoError(t, err)
	class, err := MachineClass(runs[0].Config)
	require.NoError(t, err)
	assert.Equal(t, "intel-xeon-processor-6-207-2cpu-cooperlake", class)

	class, err = MachineClass(map[string]string{KeyCPU: "AMD EPYC 9R14 96-Core Processor", KeyCPUs: "2", KeyBLASKernels: "Haswell"})
	require.NoError(t, err)
	assert.Equal(t, "amd-epyc-9r14-96-core-processor-2cpu-haswell", class)

	_, err = MachineClass(map[string]string{KeyBLASKernels: "Haswell"})
	assert.ErrorContains(t, err, "no CPU")
}

func TestHistoryRecordsRoundTrip(t *testing.T) {
	var hist bytes.Buffer
	require.NoError(t, WriteRecord(&hist, "2026-01-02T03:04:05Z abc123", []byte(output)))
	second := strings.ReplaceAll(output, "850000000 ns/op", "900000000 ns/op")
	require.NoError(t, WriteRecord(&hist, "2026-01-03T00:00:00Z def456-dirty", []byte(second)))
	assert.NotContains(t, hist.String(), "PASS")
	assert.NotContains(t, hist.String(), "ok  \t")

	runs, err := Parse(&hist, "history.txt")
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, "2026-01-02T03:04:05Z abc123", runs[0].Record)
	assert.Equal(t, "2026-01-03T00:00:00Z def456-dirty", Last(runs).Record)
	assert.InDeltaSlice(t, []float64{0.9, 0.86}, Last(runs).SecPerOp["ForwardPythia160M-2"], 1e-12)
	assert.Equal(t, "Cooperlake", Last(runs).Config[KeyBLASKernels], "each record keeps its configuration")
	assert.Nil(t, Last(nil))
}

// run builds a Run from name → samples (sec/op).
func run(samples map[string][]float64) *Run {
	r := newRun("")
	for _, name := range []string{"A", "B", "C", "D"} {
		if s, ok := samples[name]; ok {
			r.Names = append(r.Names, name)
			r.SecPerOp[name] = s
		}
	}
	return r
}

func scaled(s []float64, f float64) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = v * f
	}
	return out
}

func TestCheck(t *testing.T) {
	base := []float64{1.00, 1.02, 0.99, 1.01, 1.03, 0.98}
	for _, c := range []struct {
		name      string
		cur       []float64
		regressed bool
	}{
		{"20% slower, every sample", scaled(base, 1.2), true},
		{"12% slower, every sample", scaled(base, 1.12), true},
		{"5% slower: under the threshold", scaled(base, 1.05), false},
		{"faster", scaled(base, 0.7), false},
		{"same", base, false},
		{"slower median but overlapping noise", []float64{0.97, 1.5, 1.01, 1.6, 0.99, 1.4}, false},
		{"50% slower on 3 samples: cannot be told from noise", scaled(base[:3], 1.5), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base
			if len(c.cur) < len(base) {
				b = base[:len(c.cur)]
			}
			vs := Check(run(map[string][]float64{"A": b}), run(map[string][]float64{"A": c.cur}), 0.10, 0.05)
			require.Len(t, vs, 1)
			assert.Equal(t, c.regressed, vs[0].Regressed, "change %+.1f%%, p=%.3f", 100*vs[0].Change, vs[0].P)
			assert.Equal(t, map[bool]int{true: 1, false: 0}[c.regressed], Regressions(vs))
		})
	}
}

func TestCheckMissingAndNew(t *testing.T) {
	base := run(map[string][]float64{"A": {1, 1, 1, 1}, "B": {2, 2, 2, 2}})
	cur := run(map[string][]float64{"A": {1, 1, 1, 1}, "C": {3, 3, 3, 3}})
	vs := Check(base, cur, 0.10, 0.05)
	require.Len(t, vs, 3)
	assert.Equal(t, Verdict{Name: "A", Base: 1, Cur: 1, P: 1, N1: 4, N2: 4}, vs[0])
	assert.Equal(t, Verdict{Name: "B", Base: 2, N1: 4, Missing: true}, vs[1])
	assert.Equal(t, Verdict{Name: "C", Cur: 3, N2: 4, New: true}, vs[2])
	assert.Zero(t, Regressions(vs), "a benchmark left out (e.g. by BENCH=) is reported, not failed")
}

func TestWriteVerdicts(t *testing.T) {
	base := []float64{1.00, 1.02, 0.99, 1.01, 1.03, 0.98}
	vs := Check(run(map[string][]float64{"A": base, "B": base, "C": scaled(base, 1e-6), "D": base[:2]}),
		run(map[string][]float64{"A": scaled(base, 1.2), "B": base, "D": base[:2]}), 0.10, 0.05)
	var w bytes.Buffer
	require.NoError(t, WriteVerdicts(&w, vs, 0.10, 0.05))
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	require.Len(t, lines, 5)
	assert.Regexp(t, `^A +1\.0\ds +1\.2\ds +\+20\.0% +0\.002 +6\+6 +REGRESSED \(> 10% slower\)$`, lines[1])
	assert.Regexp(t, `^B .* ok$`, lines[2])
	assert.Regexp(t, `^C +1\.0\dµs .* not run now$`, lines[3])
	assert.Regexp(t, `^D .* too few samples to tell \(need 4 each\)$`, lines[4])
}

func TestSeconds(t *testing.T) {
	for in, want := range map[float64]string{1.234: "1.23s", 110.4e-3: "110ms", 45.61e-3: "45.6ms", 789e-6: "789µs", 12.34e-9: "12.3ns", 1e-6: "1.00µs"} {
		assert.Equal(t, want, seconds(in), "%g", in)
	}
}
