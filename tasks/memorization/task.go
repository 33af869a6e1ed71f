package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

const name = "memorization"

var options = []plugins.OptionInfo{
	{Name: "data", Help: "token-id sequences (required): a 2-D .npy of integer ids (uint16/int32/int64, C order), " +
		`or JSON lines with a "tokens" array (other fields allowed, see group_by)`},
	{Name: "preset", Help: "paper: the memorization script of Menta et al. (start=0 prefix_len=32 suffix_len=rest suppress_eos=true); " +
		"satml: the SaTML 2023 extraction-challenge layout of its 100 | 50 | 50 rows (start=100 prefix_len=50 suffix_len=50); options given explicitly win"},
	{Name: "prefix_len", Default: "32", Help: "tokens given to the model"},
	{Name: "suffix_len", Default: "32", Help: "tokens the model must reproduce after the prefix, or rest: every column after the prefix (rows may differ in length)"},
	{Name: "start", Default: "0", Help: "column where the prefix starts (100 for the SaTML 2023 layout: 100 pre-prefix | 50 prefix | 50 suffix)"},
	{Name: "suppress_eos", Default: "false", Help: "true: the model's end-of-text token (eos_token_id) is never generated, as Hugging Face generate with min_new_tokens = max_new_tokens (the paper's script); " +
		"false: plain greedy decoding for suffix_len tokens, an end-of-text token counting as a (wrong) token and decoding going on after it"},
	{Name: "group_by", Help: "JSON-lines field name(s), comma-separated: also report every aggregate per distinct value, e.g. exact_match[duplicates=8]"},
}

// metric names.
const (
	exactMatch        = "exact_match"
	tokenAccuracy     = "token_accuracy"
	completionEntropy = "completion_entropy"
	extracted         = "extracted"
)

// task measures verbatim memorization: greedy continuation of a training
// prefix compared with the true suffix.
type task struct{}

// Describe implements plugins.Task.
func (task) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name:       name,
		Version:    "4", // 2: a null group_by value groups as "null", not ""; 3: NaN matches for a generation whose distribution went NaN; 4: preset, suffix_len=rest, suppress_eos
		OutputType: plugins.OutputGenerateTokens,
		Category:   plugins.CategoryMemorization,
		Metrics: []plugins.MetricInfo{
			{Name: exactMatch, HigherIsBetter: true, PerDoc: true},
			{Name: tokenAccuracy, HigherIsBetter: true, PerDoc: true},
			{Name: completionEntropy, HigherIsBetter: false, PerDoc: true},
			{Name: extracted, HigherIsBetter: true},
		},
		Options: options,
		Description: "Verbatim memorization (Menta et al., NAACL 2025; Carlini et al.): the model continues each prefix greedily for suffix_len tokens. " +
			"exact_match: all of them equal the true suffix; token_accuracy: the fraction that do; completion_entropy: the sum over the suffix positions " +
			"of the next-token entropy (nats), teacher-forced on the true sequence; extracted: the number of exact matches. " +
			"Each sample makes two requests: generate (index 0) and a rolling score of prefix+suffix (index 1).",
	}, nil
}

// config is the parsed options.
type config struct {
	prefix, suffix, start int // suffix -1: the rest of each row
	suppressEOS           bool
	groupBy               []string
}

// presets are named option sets; an option the user gives wins.
var presets = map[string]map[string]string{
	// AikyamLab/llm-memorization's evaluate script: the first 32 tokens of
	// each row prompt, the whole rest is asked for, greedy with
	// min_new_tokens = max_new_tokens (so end-of-text is never generated).
	"paper": {"start": "0", "prefix_len": "32", "suffix_len": "rest", "suppress_eos": "true"},
	// The SaTML 2023 training-data-extraction challenge: 100 pre-prefix |
	// 50 prefix | 50 suffix columns.
	"satml": {"start": "100", "prefix_len": "50", "suffix_len": "50"},
}

// withPreset fills in the preset's values of the options the user did not give.
func withPreset(given map[string]string) (map[string]string, error) {
	p := strings.TrimSpace(given["preset"])
	if p == "" {
		return given, nil
	}
	set, ok := presets[p]
	if !ok {
		return nil, fmt.Errorf("%s.preset=%s: unknown preset (use paper or satml)", name, p)
	}
	out := map[string]string{}
	for k, v := range set {
		out[k] = v
	}
	for k, v := range given {
		out[k] = v
	}
	return out, nil
}

// sample is one sequence to extract.
type sample struct {
	index  int
	prefix []int32
	suffix []int32
	groups []string // the group_by values, in option order
}

func load(opts plugins.TaskOptions) ([]sample, config, error) {
	var cfg config
	given, err := withPreset(opts.Options)
	if err != nil {
		return nil, cfg, err
	}
	o, err := taskkit.ParseOptions(name, options, given)
	if err != nil {
		return nil, cfg, err
	}
	path := o.String("data")
	if path == "" {
		return nil, cfg, fmt.Errorf("%s needs its data: pass --task-opt %s.data=PATH (a 2-D .npy of token ids, or JSON lines with a \"tokens\" array)", name, name)
	}
	if cfg.prefix, err = o.Int("prefix_len", 1); err != nil {
		return nil, cfg, err
	}
	if strings.EqualFold(strings.TrimSpace(o.String("suffix_len")), "rest") {
		cfg.suffix = -1
	} else if cfg.suffix, err = o.Int("suffix_len", 1); err != nil {
		return nil, cfg, fmt.Errorf("%w (or rest: every column after the prefix)", err)
	}
	switch v := strings.ToLower(strings.TrimSpace(o.String("suppress_eos"))); v {
	case "true", "1", "yes":
		cfg.suppressEOS = true
	case "false", "0", "no", "":
	default:
		return nil, cfg, fmt.Errorf("%s.suppress_eos=%s: give true or false", name, v)
	}
	if cfg.start, err = o.Int("start", 0); err != nil {
		return nil, cfg, err
	}
	cfg.groupBy = o.List("group_by")

	data, err := taskkit.LoadTokenRows(taskkit.FileSource(path))
	if err != nil {
		return nil, cfg, err
	}
	if data.NPY && len(cfg.groupBy) > 0 {
		return nil, cfg, fmt.Errorf("%s: group_by needs JSON-lines data with those fields; %s is a .npy array", name, path)
	}
	all := make([]sample, len(data.Rows))
	for i, row := range data.Rows {
		need := cfg.start + cfg.prefix + cfg.suffix
		if cfg.suffix < 0 { // rest: whatever follows the prefix, at least one token
			need = max(len(row), cfg.start+cfg.prefix+1)
			if len(row) < need {
				return nil, cfg, fmt.Errorf("%s: %d tokens, none left after start %d + prefix_len %d for suffix_len=rest",
					data.Where(i), len(row), cfg.start, cfg.prefix)
			}
		}
		if len(row) < need {
			return nil, cfg, fmt.Errorf("%s: %d tokens, too few columns for start %d + prefix_len %d + suffix_len %d = %d",
				data.Where(i), len(row), cfg.start, cfg.prefix, cfg.suffix, need)
		}
		s := sample{
			index:  i,
			prefix: row[cfg.start : cfg.start+cfg.prefix],
			suffix: row[cfg.start+cfg.prefix : need],
		}
		for _, field := range cfg.groupBy {
			v, err := data.Objects[i].Label(field)
			if err != nil {
				return nil, cfg, fmt.Errorf("%s: group_by: %w", data.Where(i), err)
			}
			s.groups = append(s.groups, v)
		}
		all[i] = s
	}
	idx, err := taskkit.SelectDocs(name, len(all), opts)
	if err != nil {
		return nil, cfg, err
	}
	sel := make([]sample, len(idx))
	for i, j := range idx {
		sel[i] = all[j]
	}
	return sel, cfg, nil
}

func requests(samples []sample, cfg config) []plugins.Request {
	reqs := make([]plugins.Request, 0, 2*len(samples))
	for _, s := range samples {
		full := append(append(make([]int32, 0, len(s.prefix)+len(s.suffix)), s.prefix...), s.suffix...)
		reqs = append(reqs,
			plugins.Request{DocIndex: s.index, Index: 0, Generate: &plugins.GenerateRequest{Prefix: s.prefix, NewTokens: len(s.suffix), SuppressEOS: cfg.suppressEOS}},
			plugins.Request{DocIndex: s.index, Index: 1, Rolling: &plugins.RollingRequest{IDs: full, ContextLen: len(s.prefix)}},
		)
	}
	return reqs
}

// Requests implements plugins.Task: per sample, greedy generation from the
// prefix (index 0) and a teacher-forced rolling score of prefix+suffix that
// scores only the suffix (index 1).
func (task) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	samples, cfg, err := load(opts)
	if err != nil {
		return nil, err
	}
	return requests(samples, cfg), nil
}

// Score implements plugins.Task.
func (task) Score(_ context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	samples, cfg, err := load(opts)
	if err != nil {
		return plugins.Scores{}, err
	}
	if err := taskkit.CheckExchange(name, requests(samples, cfg), reqs, resps); err != nil {
		return plugins.Scores{}, err
	}
	var out plugins.Scores
	em := make([]float64, len(samples))
	acc := make([]float64, len(samples))
	ent := make([]float64, len(samples))
	for i, s := range samples {
		gen, roll := resps[2*i].Generate, resps[2*i+1].Rolling
		if len(gen.IDs) != len(s.suffix) {
			return plugins.Scores{}, fmt.Errorf("%s: sample %d: the backend generated %d tokens, want %d", name, s.index, len(gen.IDs), len(s.suffix))
		}
		if len(roll.Entropies) != len(s.suffix) {
			return plugins.Scores{}, fmt.Errorf("%s: sample %d: the rolling score has %d entropies, want one per suffix token (%d)", name, s.index, len(roll.Entropies), len(s.suffix))
		}
		same := 0
		for j, id := range gen.IDs {
			if id == s.suffix[j] {
				same++
			}
		}
		if same == len(s.suffix) {
			em[i] = 1
		}
		acc[i] = float64(same) / float64(len(s.suffix))
		if undefinedStep(gen.Entropies) {
			// A step's distribution went NaN (a non-finite forward pass):
			// its "greedy" token means nothing, and neither do the
			// matches; NaN shows it where a 0 would hide it.
			em[i], acc[i] = math.NaN(), math.NaN()
		}
		for _, e := range roll.Entropies {
			ent[i] += float64(e)
		}
		out.Docs = append(out.Docs, plugins.DocScore{
			DocIndex:   s.index,
			Gold:       -1,
			Prediction: -1,
			Metrics:    map[string]float64{exactMatch: em[i], tokenAccuracy: acc[i], completionEntropy: ent[i]},
		})
	}
	all := make([]int, len(samples))
	for i := range all {
		all[i] = i
	}
	out.Metrics = aggregate("", all, em, acc, ent)
	for f, field := range cfg.groupBy {
		byValue := map[string][]int{}
		for i, s := range samples {
			byValue[s.groups[f]] = append(byValue[s.groups[f]], i)
		}
		for _, v := range sortedLabels(byValue) {
			out.Metrics = append(out.Metrics, aggregate("["+field+"="+v+"]", byValue[v], em, acc, ent)...)
		}
	}
	return out, nil
}

// undefinedStep reports whether a generation took a token from an
// undefined (NaN-entropy) distribution.
func undefinedStep(entropies []float32) bool {
	for _, e := range entropies {
		if e != e {
			return true
		}
	}
	return false
}

// aggregate reports the metrics over the samples at positions idx, with
// suffix appended to each metric's name.
func aggregate(suffix string, idx []int, em, acc, ent []float64) []plugins.MetricValue {
	pick := func(xs []float64) []float64 {
		out := make([]float64, len(idx))
		for k, i := range idx {
			out[k] = xs[i]
		}
		return out
	}
	e := pick(em)
	mEM := taskkit.MeanMetric(exactMatch+suffix, true, e)
	count := 0.0
	for _, x := range e {
		count += x
	}
	return []plugins.MetricValue{
		mEM,
		taskkit.MeanMetric(tokenAccuracy+suffix, true, pick(acc)),
		taskkit.MeanMetric(completionEntropy+suffix, false, pick(ent)),
		// The count's standard error is n times the mean's.
		{Name: extracted + suffix, Value: count, Stderr: float64(len(e)) * mEM.Stderr, N: len(e), HigherIsBetter: true},
	}
}

// sortedLabels orders group values numerically when they all are numbers,
// else as strings.
func sortedLabels(m map[string][]int) []string {
	keys := make([]string, 0, len(m))
	numeric := true
	for k := range m {
		keys = append(keys, k)
		if _, err := strconv.ParseFloat(k, 64); err != nil {
			numeric = false
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		if numeric {
			x, _ := strconv.ParseFloat(keys[a], 64)
			y, _ := strconv.ParseFloat(keys[b], 64)
			if x != y && !math.IsNaN(x) && !math.IsNaN(y) {
				return x < y
			}
		}
		return strings.Compare(keys[a], keys[b]) < 0
	})
	return keys
}
