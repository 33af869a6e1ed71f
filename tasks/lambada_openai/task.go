package main

import (
	"context"
	"embed"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

//go:embed data
var dataFS embed.FS

const name = "lambada_openai"

var dataset = taskkit.Dataset{
	Task:         name,
	FileName:     "lambada_test.jsonl",
	FS:           dataFS,
	EmbeddedPath: "data/lambada_test.jsonl",
	EmbeddedDocs: 200,
	FullDocs:     5153,
	Where:        `JSON lines {"text"}, OpenAI's LAMBADA test set as in EleutherAI/lambada_openai`,
}

var bootstrapOption = plugins.OptionInfo{
	Name:    "bootstrap_iters",
	Default: strconv.Itoa(taskkit.DefaultBootstrapIters),
	Help:    "resamples of the seeded bootstrap for the perplexity standard error (0: no stderr)",
}

// task is LAMBADA (OpenAI's version) as lm-eval v0.4 runs it.
type task struct{}

func (task) options() []plugins.OptionInfo {
	return []plugins.OptionInfo{dataset.DataOption(), bootstrapOption}
}

// Describe implements plugins.Task.
func (t task) Describe(context.Context) (plugins.TaskInfo, error) {
	return plugins.TaskInfo{
		Name:       name,
		Version:    "1",
		OutputType: plugins.OutputLoglikelihood,
		Category:   plugins.CategoryLanguage,
		Metrics: []plugins.MetricInfo{
			{Name: "acc", HigherIsBetter: true, PerDoc: true},
			{Name: "perplexity", HigherIsBetter: false},
		},
		DataFiles: []string{dataset.Describe()},
		Options:   t.options(),
		Description: "LAMBADA (OpenAI test set, 5153 passages), lm-eval v0.4: the context is the passage up to its last space, " +
			`the continuation " "+the last word; acc = every continuation token is the greedy one, ` +
			"perplexity = exp(-mean log-likelihood) with a seeded bootstrap standard error.",
	}, nil
}

type doc struct {
	index int
	ctx   string
	cont  string
}

// split is lm-eval's text.split(' ')[:-1] joined by ' ', and ' ' + the last
// piece: everything before the last space, and the last word.
func split(text string) (ctx, cont string) {
	i := strings.LastIndex(text, " ")
	if i < 0 {
		return "", " " + text
	}
	return text[:i], " " + text[i+1:]
}

func (t task) docs(opts plugins.TaskOptions, announce bool) ([]doc, int, error) {
	o, err := taskkit.ParseOptions(name, t.options(), opts.Options)
	if err != nil {
		return nil, 0, err
	}
	// Every option is checked here, so Requests refuses a bad value
	// before any model work.
	iters, err := o.BootstrapIters()
	if err != nil {
		return nil, 0, err
	}
	var all []doc
	err = dataset.Source(o, announce).EachJSONLine(func(_ int, obj taskkit.JSONObject) error {
		text, err := obj.String("text")
		if err != nil {
			return err
		}
		if strings.TrimSpace(text) == "" {
			return fmt.Errorf("empty \"text\": a LAMBADA passage needs words (its last word is what the model must predict)")
		}
		if strings.HasSuffix(text, " ") {
			return fmt.Errorf("\"text\" ends in a space: there is no last word to predict (strip trailing spaces)")
		}
		ctx, cont := split(text)
		all = append(all, doc{index: len(all), ctx: ctx, cont: cont})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	idx, err := taskkit.SelectDocs(name, len(all), opts)
	if err != nil {
		return nil, 0, err
	}
	sel := make([]doc, len(idx))
	for i, j := range idx {
		sel[i] = all[j]
	}
	return sel, iters, nil
}

func requests(docs []doc) []plugins.Request {
	reqs := make([]plugins.Request, len(docs))
	for i, d := range docs {
		reqs[i] = plugins.Request{DocIndex: d.index, Loglikelihood: &plugins.LoglikelihoodRequest{Context: d.ctx, Continuation: d.cont}}
	}
	return reqs
}

// Requests implements plugins.Task: one loglikelihood request per passage.
func (t task) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	docs, _, err := t.docs(opts, true)
	if err != nil {
		return nil, err
	}
	return requests(docs), nil
}

// Score implements plugins.Task.
func (t task) Score(_ context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	docs, iters, err := t.docs(opts, false)
	if err != nil {
		return plugins.Scores{}, err
	}
	if err := taskkit.CheckExchange(name, requests(docs), reqs, resps); err != nil {
		return plugins.Scores{}, err
	}
	var out plugins.Scores
	acc := make([]float64, len(docs))
	lls := make([]float64, len(docs))
	for i, d := range docs {
		r := resps[i].Loglikelihood
		lls[i] = r.LogLikelihood
		if r.IsGreedy {
			acc[i] = 1
		}
		out.Docs = append(out.Docs, plugins.DocScore{
			DocIndex:             d.index,
			Gold:                 -1,
			Prediction:           -1,
			ChoiceLogLikelihoods: []float64{r.LogLikelihood},
			Metrics:              map[string]float64{"acc": acc[i]},
		})
	}
	perplexity := func(sample []int) float64 {
		s := 0.0
		for _, j := range sample {
			s += lls[j]
		}
		return math.Exp(-s / float64(len(sample)))
	}
	out.Metrics = []plugins.MetricValue{
		taskkit.MeanMetric("acc", true, acc),
		{
			Name:   "perplexity",
			Value:  math.Exp(-taskkit.Mean(lls)),
			Stderr: taskkit.BootstrapStderr(len(lls), iters, opts.Seed, perplexity),
			N:      len(lls),
		},
	}
	return out, nil
}
