package track

import (
	"fmt"
	"io"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
)

// Verdict is one benchmark's change from the baseline record.
type Verdict struct {
	Name      string
	Base, Cur float64 // median sec/op
	Change    float64 // Cur/Base − 1: +0.12 is 12% slower
	P         float64 // benchstat's test (Mann–Whitney U), two-sided
	N1, N2    int     // samples in base and cur
	Regressed bool    // slower by more than the threshold and significant
	Missing   bool    // in the baseline, not in this run (not checked)
	New       bool    // in this run, not in the baseline (not checked)
}

// MinSamples is the fewest samples per side for which benchstat's test
// can reach p < 0.05 (4 against 4 gives p = 0.029).
const MinSamples = 4

// Check compares cur with base benchmark by benchmark. One regressed when
// its median time per op is more than threshold slower (0.10: 10%) and
// the difference is significant at alpha (0.05, as benchstat): noise on a
// shared machine alone does not fail a check, a consistent slowdown does.
func Check(base, cur *Run, threshold, alpha float64) []Verdict {
	th := &benchmath.Thresholds{CompareAlpha: alpha}
	var out []Verdict
	for _, name := range sortedNames(base, cur) {
		b, c := base.SecPerOp[name], cur.SecPerOp[name]
		v := Verdict{Name: name, N1: len(b), N2: len(c)}
		s1, s2 := benchmath.NewSample(b, th), benchmath.NewSample(c, th)
		if len(b) > 0 {
			v.Base = benchmath.AssumeNothing.Summary(s1, 0.95).Center
		}
		if len(c) > 0 {
			v.Cur = benchmath.AssumeNothing.Summary(s2, 0.95).Center
		}
		switch {
		case len(c) == 0:
			v.Missing = true
		case len(b) == 0:
			v.New = true
		default:
			v.Change = v.Cur/v.Base - 1
			v.P = benchmath.AssumeNothing.Compare(s1, s2).P
			v.Regressed = v.Change > threshold && v.P < alpha
		}
		out = append(out, v)
	}
	return out
}

// Regressions counts the regressed verdicts.
func Regressions(vs []Verdict) int {
	n := 0
	for _, v := range vs {
		if v.Regressed {
			n++
		}
	}
	return n
}

// WriteVerdicts prints a table of the verdicts.
func WriteVerdicts(w io.Writer, vs []Verdict, threshold, alpha float64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tBASE\tNOW\tCHANGE\tP\tN\tVERDICT")
	for _, v := range vs {
		switch {
		case v.Missing:
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%d+0\tnot run now\n", v.Name, seconds(v.Base), v.N1)
			continue
		case v.New:
			fmt.Fprintf(tw, "%s\t-\t%s\t-\t-\t0+%d\tnew, no baseline\n", v.Name, seconds(v.Cur), v.N2)
			continue
		}
		verdict := "ok"
		switch {
		case v.Regressed:
			verdict = fmt.Sprintf("REGRESSED (> %.0f%% slower)", 100*threshold)
		case v.N1 < MinSamples || v.N2 < MinSamples:
			verdict = fmt.Sprintf("too few samples to tell (need %d each)", MinSamples)
		case v.Change > threshold:
			verdict = fmt.Sprintf("slower, not significant (p ≥ %.2g)", alpha)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+.1f%%\t%.3f\t%d+%d\t%s\n", v.Name, seconds(v.Base), seconds(v.Cur), 100*v.Change, v.P, v.N1, v.N2, verdict)
	}
	return tw.Flush()
}

// seconds formats a time per op with 3 significant digits: "1.23s",
// "45.6ms", "789µs", "12.3ns".
func seconds(s float64) string {
	v, unit := s*1e9, "ns"
	switch {
	case s >= 1:
		v, unit = s, "s"
	case s >= 1e-3:
		v, unit = s*1e3, "ms"
	case s >= 1e-6:
		v, unit = s*1e6, "µs"
	}
	decimals := 2
	if v >= 100 {
		decimals = 0
	} else if v >= 10 {
		decimals = 1
	}
	return fmt.Sprintf("%.*f%s", decimals, v, unit)
}
