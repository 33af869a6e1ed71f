// Package track reads `go test -bench` output, names the machine class a
// run belongs to, keeps a history of records per machine class and
// decides whether a run regressed against the last record. It does no
// timing itself: cmd/memscope-bench runs the benchmarks.
package track

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// Config keys the bench package prints before its benchmarks (see
// bench/main_test.go), beside testing's own goos/goarch/pkg/cpu.
const (
	KeyCPU         = "cpu"          // testing's CPU model line
	KeyCPUID       = "cpuid"        // "GenuineIntel family 6 model 207"
	KeyCPUs        = "cpus"         // logical CPUs the benchmarks ran on
	KeyBLAS        = "blas"         // "OpenBLAS 0.3.21"
	KeyBLASKernels = "blas-kernels" // "Cooperlake"
	// KeyRecord starts each record of a history file: "<UTC time> <commit>".
	KeyRecord = "record"
)

// Run is one set of benchmark results: a plain `go test -bench` output, or
// one record of a history file.
type Run struct {
	Record string            // KeyRecord's value; "" outside a history file
	Config map[string]string // file configuration (the first value seen of each key)
	Names  []string          // benchmark names in first-seen order
	// SecPerOp holds each benchmark's samples of time per operation.
	SecPerOp map[string][]float64
}

func newRun(record string) *Run {
	return &Run{Record: record, Config: map[string]string{}, SecPerOp: map[string][]float64{}}
}

// Parse reads benchmark results (any mix of plain output and history
// records) and groups them by KeyRecord, in order. A stream with no
// results is an error: it is almost always the wrong file.
func Parse(r io.Reader, fileName string) ([]*Run, error) {
	var runs []*Run
	byRecord := map[string]*Run{}
	br := benchfmt.NewReader(r, fileName)
	for br.Scan() {
		switch rec := br.Result(); rec := rec.(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			id := rec.GetConfig(KeyRecord)
			run := byRecord[id]
			if run == nil {
				run = newRun(id)
				byRecord[id] = run
				runs = append(runs, run)
			}
			for _, c := range rec.Config {
				if _, seen := run.Config[c.Key]; !seen && c.File {
					run.Config[c.Key] = string(c.Value)
				}
			}
			v, ok := rec.Value("sec/op")
			if !ok {
				continue
			}
			name := rec.Name.String()
			if _, seen := run.SecPerOp[name]; !seen {
				run.Names = append(run.Names, name)
			}
			run.SecPerOp[name] = append(run.SecPerOp[name], v)
		}
	}
	if err := br.Err(); err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", fileName)
	}
	return runs, nil
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug is s lower-cased with every run of other characters one "-".
func slug(s string) string {
	s = strings.ToLower(s)
	for _, noise := range []string{"(r)", "(tm)", " cpu ", "@"} {
		s = strings.ReplaceAll(s, noise, " ")
	}
	return strings.Trim(nonSlug.ReplaceAllString(s, "-"), "-")
}

// MachineClass names the machines whose timings compare: the CPU model,
// its cpuid family and model (a VM's model string is often generic), the
// CPUs the benchmarks ran on and the BLAS kernel set, e.g.
// "intel-xeon-processor-6-207-2cpu-cooperlake". Runs of different classes
// are never compared.
func MachineClass(cfg map[string]string) (string, error) {
	cpu := cfg[KeyCPU]
	if cpu == "" {
		return "", fmt.Errorf("the results name no CPU (no %q line): are they `go test -bench` output?", KeyCPU+":")
	}
	parts := []string{slug(cpu)}
	if id := cfg[KeyCPUID]; id != "" {
		// "GenuineIntel family 6 model 207" → "6-207"
		var vendor string
		var family, model int
		if _, err := fmt.Sscanf(id, "%s family %d model %d", &vendor, &family, &model); err == nil {
			parts = append(parts, fmt.Sprintf("%d-%d", family, model))
		}
	}
	if n := cfg[KeyCPUs]; n != "" {
		parts = append(parts, slug(n)+"cpu")
	}
	if k := cfg[KeyBLASKernels]; k != "" {
		parts = append(parts, slug(k))
	}
	return strings.Join(parts, "-"), nil
}

// WriteRecord writes results as a history record: a KeyRecord line, then
// the configuration and benchmark lines of the raw output (test runner
// chatter such as PASS and ok lines is dropped).
func WriteRecord(w io.Writer, record string, raw []byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n%s: %s\n", KeyRecord, record)
	for line := range bytes.Lines(raw) {
		t := bytes.TrimSpace(line)
		if bytes.HasPrefix(t, []byte("Benchmark")) || isConfigLine(t) {
			b.Write(t)
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

var configLine = regexp.MustCompile(`^[a-z][^\sA-Z]*: `)

func isConfigLine(line []byte) bool {
	return configLine.Match(line) && !bytes.HasPrefix(line, []byte(KeyRecord+":"))
}

// Last returns the last record of a history, or nil.
func Last(runs []*Run) *Run {
	if len(runs) == 0 {
		return nil
	}
	return runs[len(runs)-1]
}

// sortedNames is the union of both runs' benchmark names, base's order first.
func sortedNames(base, cur *Run) []string {
	names := slices.Clone(base.Names)
	for _, n := range cur.Names {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
