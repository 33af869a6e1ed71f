// Package plan turns what the user asked for — models, intervention specs,
// tasks, document ranges, task options — into the list of cells a run
// evaluates: models × interventions × tasks. Parsing happens before any
// plugin starts, so every malformed flag is reported up front; the
// interventions of a model are expanded once its layer count is known.
package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// ParseInterventions reads the values of the --interventions flag. Each
// value holds one or more specs separated by ';' or whitespace (a spec
// itself may contain commas: "attn-sc:1,3"). The specs are returned in
// order with duplicates removed; the baseline is not added here (Expand
// always includes it).
func ParseInterventions(values []string) ([]intervention.Spec, error) {
	var specs []intervention.Spec
	seen := map[string]bool{}
	for _, v := range values {
		fields := strings.FieldsFunc(v, func(r rune) bool { return r == ';' || unicode.IsSpace(r) })
		if len(fields) == 0 {
			return nil, fmt.Errorf("--interventions %q: empty; write e.g. --interventions attn-sc:each or --interventions 'attn-sc:20-23;attn-zero:3'", v)
		}
		for _, f := range fields {
			s, err := intervention.Parse(f)
			if err != nil {
				return nil, fmt.Errorf("--interventions: %w", err)
			}
			key := s.String()
			if !seen[key] {
				seen[key] = true
				specs = append(specs, s)
			}
		}
	}
	return specs, nil
}

// Expand resolves specs for a model with numLayers blocks: the baseline
// first and exactly once, then every intervention in spec order, with
// duplicates (e.g. attn-sc:3 and attn-sc:each) removed.
func Expand(specs []intervention.Spec, numLayers int) ([]intervention.Intervention, error) {
	out := []intervention.Intervention{intervention.Baseline()}
	seen := map[string]bool{"none": true}
	for _, s := range specs {
		ivs, err := s.Resolve(numLayers)
		if err != nil {
			return nil, err
		}
		for _, iv := range ivs {
			if iv.IsBaseline() {
				continue
			}
			key := iv.String()
			if !seen[key] {
				seen[key] = true
				out = append(out, iv)
			}
		}
	}
	return out, nil
}

// ParseDocRanges reads --docs: comma-separated indices and inclusive
// ranges, "60-119" or "0-9,20,30-39". Ranges are sorted and merged.
func ParseDocRanges(s string) ([]plugins.DocRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []plugins.DocRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseDocIndex(lo, s)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseDocIndex(hi, s); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("--docs %q: range %q runs backwards", s, part)
			}
		}
		out = append(out, plugins.DocRange{First: a, Last: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		if r.First <= last.Last+1 {
			last.Last = max(last.Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

func parseDocIndex(s, all string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--docs %q: %q is not a document index (write 0-based indices and ranges, e.g. --docs 60-119 or --docs 0-9,20)", all, s)
	}
	return n, nil
}

// FormatDocRanges renders ranges the way ParseDocRanges reads them.
func FormatDocRanges(rs []plugins.DocRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		if r.First == r.Last {
			parts[i] = strconv.Itoa(r.First)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", r.First, r.Last)
		}
	}
	return strings.Join(parts, ",")
}

// ParseTasks reads --tasks values: comma-separated task names, in order,
// duplicates removed.
func ParseTasks(values []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !validName(name) {
				return nil, fmt.Errorf("--tasks: %q is not a task name (names use letters, digits, '_' and '-')", name)
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	if len(out) == 0 && len(values) > 0 {
		return nil, fmt.Errorf("--tasks is empty; name tasks, e.g. --tasks memorization,lambada_openai (memscope tasks lists them)")
	}
	return out, nil
}

func validName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return s != ""
}

// TaskOptions maps a task name to its --task-opt settings.
type TaskOptions map[string]map[string]string

// ParseTaskOptions reads --task-opt values of the form TASK.KEY=VALUE.
// Every TASK must be one of tasks; a key set twice is an error.
func ParseTaskOptions(values []string, tasks []string) (TaskOptions, error) {
	known := map[string]bool{}
	for _, t := range tasks {
		known[t] = true
	}
	out := TaskOptions{}
	for _, v := range values {
		lhs, value, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("--task-opt %q: write TASK.KEY=VALUE, e.g. --task-opt memorization.prefix_len=32", v)
		}
		task, key, ok := strings.Cut(strings.TrimSpace(lhs), ".")
		if !ok || task == "" || key == "" {
			return nil, fmt.Errorf("--task-opt %q: the left side must be TASK.KEY, e.g. memorization.data=canaries.npy", v)
		}
		if !known[task] {
			return nil, fmt.Errorf("--task-opt %q: task %q is not in --tasks (%s)", v, task, strings.Join(tasks, ","))
		}
		if out[task] == nil {
			out[task] = map[string]string{}
		}
		if prev, dup := out[task][key]; dup {
			return nil, fmt.Errorf("--task-opt %s.%s is set twice (%q and %q)", task, key, prev, value)
		}
		out[task][key] = value
	}
	return out, nil
}

// Cell is one unit of work: a task evaluated on a model under an
// intervention.
type Cell struct {
	Model        string // display name of the model
	Intervention intervention.Intervention
	Task         string
}

func (c Cell) String() string {
	return fmt.Sprintf("model %s, intervention %s, task %s", c.Model, c.Intervention, c.Task)
}

// Cells lists a model's cells intervention-major: every task under the
// baseline, then every task under the next intervention, and so on.
func Cells(model string, ivs []intervention.Intervention, tasks []string) []Cell {
	out := make([]Cell, 0, len(ivs)*len(tasks))
	for _, iv := range ivs {
		for _, t := range tasks {
			out = append(out, Cell{Model: model, Intervention: iv, Task: t})
		}
	}
	return out
}
