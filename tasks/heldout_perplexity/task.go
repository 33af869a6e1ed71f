package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

const name = "heldout_perplexity"

var options = []plugins.OptionInfo{
	{Name: "data", Help: "required: a 2-D .npy of token-id windows (each row scored given its first token), JSON lines with a \"tokens\" array, " +
		"a .txt file, a directory of .txt files, or a glob of them (each file one document, scored as lm-eval's loglikelihood_rolling)"},
	{Name: "bootstrap_iters", Default: strconv.Itoa(taskkit.DefaultBootstrapIters), Help: "resamples of the seeded bootstrap for the standard errors (0: none)"},
}

// metric names.
const (
	nllPerToken    = "nll_per_token"
	perplexity     = "perplexity"
	wordPerplexity = "word_perplexity"
	bytePerplexity = "byte_perplexity"
	bitsPerByte    = "bits_per_byte"
)

// task measures how well a model predicts text it never saw: the control
// for the general ability that an intervention may cost.
type task struct{}

// Describe implements plugins.Task.
func (task) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name:       name,
		Version:    "1",
		OutputType: plugins.OutputLoglikelihoodRolling,
		Category:   plugins.CategoryLanguage,
		Metrics: []plugins.MetricInfo{
			{Name: nllPerToken, HigherIsBetter: false, PerDoc: true},
			{Name: perplexity, HigherIsBetter: false},
			{Name: wordPerplexity, HigherIsBetter: false},
			{Name: bytePerplexity, HigherIsBetter: false},
			{Name: bitsPerByte, HigherIsBetter: false},
		},
		Options: options,
		Description: "Held-out perplexity. Token windows (.npy or JSON lines): every token after the first of each row is scored given the ones before it. " +
			"Text files: each file is one document scored whole (lm-eval's loglikelihood_rolling, the first token conditioned on end-of-text). " +
			"nll_per_token = total negative log-likelihood / scored tokens (per document and overall), perplexity = exp(nll_per_token); " +
			"for text also lm-eval's word_perplexity, byte_perplexity and bits_per_byte. Standard errors: seeded bootstrap over documents.",
	}, nil
}

// doc is one scored unit: a token window or a text file.
type doc struct {
	index int
	ids   []int32 // token windows
	text  string  // text documents
	name  string  // text documents: the file
}

// corpus is the loaded data.
type corpus struct {
	text  bool
	docs  []doc
	iters int
}

func load(opts plugins.TaskOptions, announce bool) (*corpus, error) {
	o, err := taskkit.ParseOptions(name, options, opts.Options)
	if err != nil {
		return nil, err
	}
	iters, err := o.BootstrapIters()
	if err != nil {
		return nil, err
	}
	path := o.String("data")
	if path == "" {
		return nil, fmt.Errorf("%s needs its data: pass --task-opt %s.data=PATH (a .npy of token windows, JSON lines with \"tokens\", a .txt file, a directory of .txt files or a glob)", name, name)
	}
	c := &corpus{iters: iters}
	files, err := textFiles(path)
	if err != nil {
		return nil, err
	}
	if files == nil {
		// A single file: token windows, or one text document.
		src := taskkit.FileSource(path)
		isNPY, err := taskkit.IsNPY(src)
		if err != nil {
			return nil, err
		}
		ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(strings.TrimSuffix(path, ".gz"), ".bz2")))
		if isNPY || ext == ".jsonl" || ext == ".json" {
			rows, err := taskkit.LoadTokenRows(src)
			if err != nil {
				return nil, err
			}
			for i, row := range rows.Rows {
				if len(row) < 2 {
					return nil, fmt.Errorf("%s: %d tokens; a window needs at least 2 (the first only conditions)", rows.Where(i), len(row))
				}
				c.docs = append(c.docs, doc{index: i, ids: row})
			}
		} else {
			files = []string{path}
		}
	}
	if files != nil {
		c.text = true
		for i, f := range files {
			b, err := taskkit.FileSource(f).ReadAll()
			if err != nil {
				return nil, err
			}
			if len(b) == 0 {
				return nil, fmt.Errorf("%s: empty document", f)
			}
			if !utf8.Valid(b) {
				return nil, fmt.Errorf("%s: not UTF-8 text (at byte %d); convert it to UTF-8 first", f, taskkit.InvalidUTF8At(b))
			}
			c.docs = append(c.docs, doc{index: i, text: string(b), name: f})
		}
	}
	idx, err := taskkit.SelectDocs(name, len(c.docs), opts)
	if err != nil {
		return nil, err
	}
	sel := make([]doc, len(idx))
	for i, j := range idx {
		sel[i] = c.docs[j]
	}
	c.docs = sel
	if announce && c.text {
		var names []string
		for _, d := range c.docs {
			names = append(names, fmt.Sprintf("%d=%s", d.index, filepath.Base(d.name)))
		}
		if len(names) > 12 {
			names = append(names[:12], "…")
		}
		taskkit.Logf(name, "%d text documents: %s", len(c.docs), strings.Join(names, ", "))
	}
	return c, nil
}

// textFiles expands a directory (its *.txt files) or a glob into sorted
// file names; nil for a single existing file.
func textFiles(path string) ([]string, error) {
	if strings.ContainsAny(path, "*?[") {
		files, err := filepath.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("%s: bad glob: %w", path, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no files match", path)
		}
		sort.Strings(files)
		return files, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: file not found", path)
		}
		return nil, err
	}
	if !st.IsDir() {
		return nil, nil
	}
	files, err := filepath.Glob(filepath.Join(path, "*.txt"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .txt files in the directory", path)
	}
	sort.Strings(files)
	return files, nil
}

func (c *corpus) requests() []plugins.Request {
	reqs := make([]plugins.Request, len(c.docs))
	for i, d := range c.docs {
		r := &plugins.RollingRequest{IDs: d.ids, ContextLen: 1}
		if c.text {
			r = &plugins.RollingRequest{Text: d.text, ContextLen: 0}
		}
		reqs[i] = plugins.Request{DocIndex: d.index, Rolling: r}
	}
	return reqs
}

// Requests implements plugins.Task: one rolling request per window or file.
func (task) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	c, err := load(opts, true)
	if err != nil {
		return nil, err
	}
	return c.requests(), nil
}

// Score implements plugins.Task.
func (task) Score(_ context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	c, err := load(opts, false)
	if err != nil {
		return plugins.Scores{}, err
	}
	if err := taskkit.CheckExchange(name, c.requests(), reqs, resps); err != nil {
		return plugins.Scores{}, err
	}
	n := len(c.docs)
	nll := make([]float64, n)   // negative log-likelihood of each document
	toks := make([]float64, n)  // scored tokens
	words := make([]float64, n) // text only
	bytes := make([]float64, n) // text only
	var out plugins.Scores
	for i, d := range c.docs {
		r := resps[i].Rolling
		switch {
		case !c.text && len(r.LogProbs) != len(d.ids)-1:
			return plugins.Scores{}, fmt.Errorf("%s: window %d: %d log-probs for %d scored tokens", name, d.index, len(r.LogProbs), len(d.ids)-1)
		case c.text && len(r.LogProbs) == 0:
			return plugins.Scores{}, fmt.Errorf("%s: document %d (%s): the backend scored no tokens", name, d.index, d.name)
		}
		nll[i] = -r.LogLikelihood
		toks[i] = float64(len(r.LogProbs))
		words[i] = float64(taskkit.PyWordCount(d.text))
		bytes[i] = float64(len(d.text))
		out.Docs = append(out.Docs, plugins.DocScore{
			DocIndex:   d.index,
			Gold:       -1,
			Prediction: -1,
			Metrics:    map[string]float64{nllPerToken: nll[i] / toks[i]},
		})
	}
	// Every aggregate is a ratio of sums over documents; its standard error
	// is bootstrapped by resampling documents.
	ratio := func(num, den []float64, f func(float64) float64) (float64, float64) {
		stat := func(sample []int) float64 {
			a, b := 0.0, 0.0
			for _, j := range sample {
				a += num[j]
				b += den[j]
			}
			return f(a / b)
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return stat(all), taskkit.BootstrapStderr(n, c.iters, opts.Seed, stat)
	}
	identity := func(x float64) float64 { return x }
	metric := func(name string, num, den []float64, f func(float64) float64) plugins.MetricValue {
		v, se := ratio(num, den, f)
		return plugins.MetricValue{Name: name, Value: v, Stderr: se, N: n}
	}
	out.Metrics = []plugins.MetricValue{
		metric(nllPerToken, nll, toks, identity),
		metric(perplexity, nll, toks, math.Exp),
	}
	if c.text {
		out.Metrics = append(out.Metrics,
			metric(wordPerplexity, nll, words, math.Exp),
			metric(bytePerplexity, nll, bytes, math.Exp),
			metric(bitsPerByte, nll, bytes, func(x float64) float64 { return x / math.Ln2 }),
		)
	}
	return out, nil
}
