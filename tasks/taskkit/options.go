package taskkit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/memscope/memscope/plugins"
)

// Options are a task's validated --task-opt values.
type Options struct {
	task   string
	specs  []plugins.OptionInfo
	values map[string]string
}

// ParseOptions checks the given option keys against specs and rejects any
// unknown key with an error listing the valid ones.
func ParseOptions(task string, specs []plugins.OptionInfo, given map[string]string) (Options, error) {
	known := make(map[string]bool, len(specs))
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		known[s.Name] = true
		names = append(names, s.Name)
	}
	var unknown []string
	for k := range given {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		valid := "none"
		if len(names) > 0 {
			valid = strings.Join(names, ", ")
		}
		return Options{}, fmt.Errorf("%s: unknown option %s (valid options: %s; set them with --task-opt %s.KEY=VALUE)",
			task, quoteAll(unknown), valid, task)
	}
	values := make(map[string]string, len(given))
	for k, v := range given {
		values[k] = v
	}
	return Options{task: task, specs: specs, values: values}, nil
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// Task is the task name the options belong to.
func (o Options) Task() string { return o.task }

// IsSet reports whether the user gave the option (even as an empty string).
func (o Options) IsSet(name string) bool {
	_, ok := o.values[name]
	return ok
}

// String is the option's value, or its documented default.
func (o Options) String(name string) string {
	if v, ok := o.values[name]; ok {
		return v
	}
	for _, s := range o.specs {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// MaxIntOption bounds every integer option: far above any real length,
// count or index, and small enough that a few of them add up without
// overflowing.
const MaxIntOption = 1 << 30

// Int parses an integer option (or its default) and checks it is at least
// min and at most MaxIntOption.
func (o Options) Int(name string, min int) (int, error) {
	return o.IntIn(name, min, MaxIntOption)
}

// IntIn parses an integer option (or its default) and checks it is in
// [min, max].
func (o Options) IntIn(name string, min, max int) (int, error) {
	raw := strings.TrimSpace(o.String(name))
	v, err := strconv.Atoi(raw)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%s.%s=%s: too large; give at most %d", o.task, name, raw, max)
		}
		return 0, fmt.Errorf("%s.%s=%q: not an integer", o.task, name, raw)
	}
	if v < min {
		return 0, fmt.Errorf("%s.%s=%d: must be at least %d", o.task, name, v, min)
	}
	if v > max {
		return 0, fmt.Errorf("%s.%s=%d: too large; give at most %d", o.task, name, v, max)
	}
	return v, nil
}

// MaxBootstrapIters bounds bootstrap_iters options (lm-eval uses 100000).
const MaxBootstrapIters = 1000000

// BootstrapIters parses a task's bootstrap_iters option: 0 (no standard
// error) to MaxBootstrapIters.
func (o Options) BootstrapIters() (int, error) {
	return o.IntIn("bootstrap_iters", 0, MaxBootstrapIters)
}

// List splits a comma-separated option into its trimmed, non-empty parts.
func (o Options) List(name string) []string {
	var out []string
	for _, p := range strings.Split(o.String(name), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
