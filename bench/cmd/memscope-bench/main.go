// Command memscope-bench runs memscope's tracked speed benchmarks and
// keeps their history; the Taskfile's bench targets call it:
//
//	memscope-bench run     [-count 6] [-bench RE] [-o FILE]   the suite, benchstat-ready
//	memscope-bench compare [-base REV] [-count 6] [-bench RE] two commits, interleaved, benchstat's comparison
//	memscope-bench record  [-in FILE] [-count 6]              append a run to bench/history/<machine class>.txt
//	memscope-bench check   [-in FILE] [-threshold 10]         fail if slower than the last record of this machine class
//
// It runs from the repository root. Timings are only compared within one
// machine class (CPU model, cpuid family/model, CPU count, OpenBLAS
// kernel set): see bench/track.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/memscope/memscope/bench/track"
)

// step is one `go test -bench` invocation of the suite.
type step struct {
	pkg       string // package directory, relative to the repository root
	bench     string // which top-level benchmarks
	modelTime bool   // the slow model benchmarks: -benchtime from -model-benchtime
}

// suite is what is tracked: the model benchmarks (a forward is seconds
// on a laptop, so a few iterations per sample), the matrix products and
// the tokenizer.
var suite = []step{
	{pkg: "bench", bench: "^Benchmark(Forward|Score|Greedy)", modelTime: true},
	{pkg: "bench", bench: "^BenchmarkGEMM"},
	{pkg: "backends/tokenizer", bench: "^Benchmark"},
}

// historyDir holds one file per machine class.
const historyDir = "bench/history"

type options struct {
	count     int
	bench     string
	benchtime string
	modelTime string
	out       string
	in        string
	base      string
	threshold float64
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex)) // the check said why on stdout
		}
		fmt.Fprintln(os.Stderr, "memscope-bench:", err)
		os.Exit(2)
	}
}

// exitError is a failed check (exit status 1); other errors exit 2.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: memscope-bench run|compare|record|check [flags]   (-h after a command for its flags)
  run      run the tracked benchmarks (-count samples each), print them benchstat-ready
  compare  build two commits and compare them in one interleaved run (benchstat)
  record   append a run to bench/history/<machine class>.txt
  check    compare a run with the last record of this machine class; exit 1 on a regression`

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var o options
	fs.IntVar(&o.count, "count", 6, "samples per benchmark (benchstat needs 6 or more to tell a 5% change)")
	fs.StringVar(&o.bench, "bench", ".", "run only the top-level benchmarks matching `regexp` (e.g. Forward)")
	fs.StringVar(&o.benchtime, "benchtime", "0.5s", "-benchtime of the fast benchmarks (matrix products, tokenizer)")
	fs.StringVar(&o.modelTime, "model-benchtime", "2x", "-benchtime of the model benchmarks (forward, score, greedy)")
	switch cmd {
	case "run":
		fs.StringVar(&o.out, "o", "", "also write the results to `file`")
	case "compare":
		fs.StringVar(&o.base, "base", "", "the commit to compare the working tree with (default: the merge base with main)")
		fs.StringVar(&o.out, "o", "", "keep both result files in `dir`")
	case "record", "check":
		fs.StringVar(&o.in, "in", "", "take results from `file` (from run -o) instead of running the benchmarks")
		if cmd == "check" {
			fs.Float64Var(&o.threshold, "threshold", 10, "fail when a benchmark is more than `percent` slower (and the change is significant)")
		}
	default:
		return errors.New(usage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd, fs.Args())
	}
	if o.count < 1 {
		return fmt.Errorf("-count %d: need at least 1", o.count)
	}
	if _, err := regexp.Compile(o.bench); err != nil {
		return fmt.Errorf("-bench: %w", err)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run memscope-bench from the repository root (go tool task bench does)")
	}
	switch cmd {
	case "run":
		_, err := runSuite(o, o.out)
		return err
	case "compare":
		return compare(o)
	case "record":
		return record(o)
	}
	return check(o)
}

// runSuite builds the working tree's benchmark binaries and runs the
// suite with -count samples, echoing the output on stdout (and to out).
func runSuite(o options, out string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "memscope-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bins, err := buildSide(".", tmp, "head")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := io.MultiWriter(os.Stdout, &buf)
	for _, s := range suite {
		if err := runStep(w, ".", bins, s, o, o.count); err != nil {
			return nil, err
		}
	}
	if out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "results in %s\n", out)
	}
	return buf.Bytes(), nil
}

// buildSide compiles the test binary of each package of the suite that
// exists in the source tree src into dir (name prefix side).
func buildSide(src, dir, side string) (map[string]string, error) {
	bins := map[string]string{}
	for _, s := range suite {
		if _, done := bins[s.pkg]; done {
			continue
		}
		if _, err := os.Stat(filepath.Join(src, s.pkg)); err != nil {
			fmt.Fprintf(os.Stderr, "%s has no %s: its benchmarks are left out\n", side, s.pkg)
			continue
		}
		bin := filepath.Join(dir, side+"-"+strings.ReplaceAll(s.pkg, "/", "-")+".test")
		fmt.Fprintf(os.Stderr, "building %s benchmarks of %s\n", side, s.pkg)
		c := exec.Command("go", "test", "-c", "-o", bin, "./"+s.pkg)
		c.Dir, c.Stdout, c.Stderr = src, os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("build the benchmarks of %s/%s: %w", src, s.pkg, err)
		}
		bins[s.pkg] = bin
	}
	return bins, nil
}

// runStep runs one step's benchmarks (those -bench also selects) count
// times from the package's folder in src.
func runStep(w io.Writer, src string, bins map[string]string, s step, o options, count int) error {
	bin, ok := bins[s.pkg]
	if !ok {
		return nil
	}
	dir := filepath.Join(src, s.pkg)
	pattern, err := selectBenchmarks(bin, dir, s.bench, o.bench)
	if err != nil || pattern == "" {
		return err
	}
	benchtime := o.benchtime
	if s.modelTime {
		benchtime = o.modelTime
	}
	c := exec.Command(bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime,
		"-test.count", fmt.Sprint(count), "-test.benchmem")
	c.Dir, c.Stdout, c.Stderr = dir, w, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("benchmarks of %s: %w", s.pkg, err)
	}
	return nil
}

// selectBenchmarks is a -test.bench pattern naming the top-level
// benchmarks of bin (run in dir, its package's folder) that match both
// the step's and the user's regexp, or "" when none does.
func selectBenchmarks(bin, dir, stepRE, userRE string) (string, error) {
	c := exec.Command(bin, "-test.list", "^Benchmark")
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("list the benchmarks of %s: %w\n%s", dir, err, out)
	}
	a, b := regexp.MustCompile(stepRE), regexp.MustCompile(userRE)
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "Benchmark") && a.MatchString(n) && b.MatchString(n) {
			names = append(names, regexp.QuoteMeta(n))
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	return "^(" + strings.Join(names, "|") + ")$", nil
}

// compare builds the base commit and the working tree and runs both
// suites interleaved (base, head, head, base, …) so drift on a shared
// machine falls on both, then prints benchstat's comparison.
func compare(o options) error {
	base := o.base
	if base == "" {
		b, err := git("merge-base", "HEAD", "main")
		if err != nil {
			return fmt.Errorf("no -base given and no merge base with main (%v): pass -base REV", err)
		}
		base = b
	}
	rev, err := git("rev-parse", "--short", base+"^{commit}")
	if err != nil {
		return fmt.Errorf("-base %s: not a commit here: %w", base, err)
	}
	tmp, err := os.MkdirTemp("", "memscope-bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	if err := exportCommit(rev, src); err != nil {
		return err
	}
	baseBins, err := buildSide(src, tmp, "base")
	if err != nil {
		return err
	}
	headBins, err := buildSide(".", tmp, "head")
	if err != nil {
		return err
	}
	dir := o.out
	if dir == "" {
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]*os.File{}
	for _, side := range []string{"base", "head"} {
		f, err := os.Create(filepath.Join(dir, side+".txt"))
		if err != nil {
			return err
		}
		defer f.Close()
		files[side] = f
	}
	sides := map[string]struct {
		src  string
		bins map[string]string
	}{"base": {src, baseBins}, "head": {".", headBins}}
	start := time.Now()
	for round := 1; round <= o.count; round++ {
		order := []string{"base", "head"}
		if round%2 == 0 {
			slices.Reverse(order)
		}
		fmt.Fprintf(os.Stderr, "round %d of %d (%s then %s), %s so far\n", round, o.count, order[0], order[1], time.Since(start).Round(time.Second))
		for _, side := range order {
			sd := sides[side]
			for _, s := range suite {
				if err := runStep(files[side], sd.src, sd.bins, s, o, 1); err != nil {
					return fmt.Errorf("%s: %w", side, err)
				}
			}
		}
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	head := "working tree"
	if h, err := git("rev-parse", "--short", "HEAD"); err == nil {
		head += " (on " + h + ")"
	}
	fmt.Printf("base = %s, head = %s; %d interleaved rounds in %s\n", rev, head, o.count, time.Since(start).Round(time.Second))
	// Both sides' BLAS kernels are shown here, not as benchstat table
	// keys: a change of kernels is what a comparison may be about.
	for _, side := range []string{"base", "head"} {
		if cfg := configOf(files[side].Name()); cfg[track.KeyBLAS] != "" {
			fmt.Printf("%s: %s, %s kernels\n", side, cfg[track.KeyBLAS], orDash(cfg[track.KeyBLASKernels]))
		}
	}
	fmt.Println()
	c := exec.Command("go", "tool", "benchstat", "-ignore", strings.Join([]string{track.KeyBLAS, track.KeyBLASKernels, track.KeyCPUID, track.KeyCPUs}, ","),
		"base="+files["base"].Name(), "head="+files["head"].Name())
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("benchstat: %w", err)
	}
	if o.out != "" {
		fmt.Fprintf(os.Stderr, "results in %s/base.txt and %s/head.txt\n", dir, dir)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// configOf is the configuration of the first results in file (empty if
// it cannot be read).
func configOf(file string) map[string]string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	runs, err := track.Parse(f, file)
	if err != nil {
		return nil
	}
	return runs[0].Config
}

// exportCommit writes the tree of rev into dir (git archive | tar).
func exportCommit(rev, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "archive", "--format=tar", rev)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin, archive.Stderr, untar.Stderr = pipe, os.Stderr, os.Stderr
	if err := archive.Start(); err != nil {
		return fmt.Errorf("git archive %s: %w", rev, err)
	}
	if err := untar.Run(); err != nil {
		archive.Wait()
		return fmt.Errorf("unpack %s: %w", rev, err)
	}
	if err := archive.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %w", rev, err)
	}
	return nil
}

func git(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// current runs the suite, or reads -in, and names the machine class of
// the results (raw as read, for a history record).
func current(o options) (raw []byte, r *track.Run, class string, err error) {
	name := "this run"
	if o.in != "" {
		name = o.in
		raw, err = os.ReadFile(o.in)
	} else {
		raw, err = runSuite(o, "")
	}
	if err != nil {
		return nil, nil, "", err
	}
	runs, err := track.Parse(bytes.NewReader(raw), name)
	if err != nil {
		return nil, nil, "", err
	}
	if len(runs) > 1 {
		return nil, nil, "", fmt.Errorf("%s holds %d history records: give one run's results (from run -o)", name, len(runs))
	}
	if class, err = track.MachineClass(runs[0].Config); err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return raw, runs[0], class, nil
}

// record appends a run to its machine class's history file.
func record(o options) error {
	raw, r, class, err := current(o)
	if err != nil {
		return err
	}
	commit, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		commit = "unknown"
	} else if _, err := git("diff", "--quiet", "HEAD"); err != nil {
		commit += "-dirty"
	}
	if err := os.MkdirAll(historyDir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(historyDir, class+".txt")
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	id := time.Now().UTC().Format(time.RFC3339) + " " + commit
	if err := track.WriteRecord(f, id, raw); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("recorded %d benchmarks as %q in %s\n", len(r.Names), id, file)
	for _, n := range r.Names {
		if len(r.SecPerOp[n]) < track.MinSamples {
			fmt.Printf("note: %s has %d samples; a check needs %d or more on both sides to tell a change from noise\n", n, len(r.SecPerOp[n]), track.MinSamples)
			break
		}
	}
	return nil
}

// check compares a run with the last record of its machine class.
func check(o options) error {
	_, cur, class, err := current(o)
	if err != nil {
		return err
	}
	file := filepath.Join(historyDir, class+".txt")
	hist, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		known, _ := filepath.Glob(filepath.Join(historyDir, "*.txt"))
		return fmt.Errorf("no history for this machine class (%s): record one first with `go tool task bench:record` (recorded classes: %s)", file, orDash(strings.Join(known, ", ")))
	}
	if err != nil {
		return err
	}
	runs, err := track.Parse(bytes.NewReader(hist), file)
	if err != nil {
		return err
	}
	base := track.Last(runs)
	th := o.threshold / 100
	vs := track.Check(base, cur, th, 0.05)
	what := "this run"
	if o.in != "" {
		what = o.in
	}
	fmt.Printf("%s against the last record of %s (%s)\n\n", what, file, base.Record)
	if err := track.WriteVerdicts(os.Stdout, vs, th, 0.05); err != nil {
		return err
	}
	if n := track.Regressions(vs); n > 0 {
		fmt.Printf("\n%d of %d benchmarks regressed by more than %g%%\n", n, len(vs), o.threshold)
		return exitError(1)
	}
	fmt.Printf("\nno benchmark regressed by more than %g%%\n", o.threshold)
	return nil
}
