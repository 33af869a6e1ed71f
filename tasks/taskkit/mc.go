package taskkit

import (
	"context"
	"fmt"

	"github.com/memscope/memscope/plugins"
)

// TargetDelimiter goes between a context and each choice (lm-eval's
// target_delimiter default).
const TargetDelimiter = " "

// MCDoc is one multiple-choice document: request i is
// (Contexts[i], Continuations[i]); acc picks the choice with the largest
// log-likelihood, acc_norm the largest log-likelihood / NormLengths[i].
type MCDoc struct {
	Index         int // position in the full data file
	Contexts      []string
	Continuations []string
	NormLengths   []int // characters of each choice, as Python len()
	Gold          int
}

// NewMCDoc builds lm-eval's ordinary multiple-choice document: one shared
// context, continuation " "+choice, acc_norm normalised by len(choice).
func NewMCDoc(index int, ctx string, choices []string, gold int) MCDoc {
	d := MCDoc{Index: index, Gold: gold}
	for _, c := range choices {
		d.Contexts = append(d.Contexts, ctx)
		d.Continuations = append(d.Continuations, TargetDelimiter+c)
		d.NormLengths = append(d.NormLengths, CharLen(c))
	}
	return d
}

// MCRequests lists the loglikelihood requests of the documents, doc by doc,
// choice by choice.
func MCRequests(docs []MCDoc) []plugins.Request {
	var reqs []plugins.Request
	for _, d := range docs {
		for i := range d.Contexts {
			reqs = append(reqs, plugins.Request{
				DocIndex: d.Index,
				Index:    i,
				Loglikelihood: &plugins.LoglikelihoodRequest{
					Context:      d.Contexts[i],
					Continuation: d.Continuations[i],
				},
			})
		}
	}
	return reqs
}

// MCMetrics are the metrics MCScore reports.
func MCMetrics() []plugins.MetricInfo {
	return []plugins.MetricInfo{
		{Name: "acc", HigherIsBetter: true, PerDoc: true},
		{Name: "acc_norm", HigherIsBetter: true, PerDoc: true},
	}
}

// MCScore scores multiple-choice documents as lm-eval's process_results
// does: acc = [argmax(ll) == gold], acc_norm = [argmax(ll/len) == gold],
// means with closed-form standard errors.
func MCScore(task string, docs []MCDoc, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	if err := CheckExchange(task, MCRequests(docs), reqs, resps); err != nil {
		return plugins.Scores{}, err
	}
	var out plugins.Scores
	acc := make([]float64, len(docs))
	accNorm := make([]float64, len(docs))
	k := 0
	for di, d := range docs {
		lls := make([]float64, len(d.Contexts))
		normed := make([]float64, len(d.Contexts))
		for i := range lls {
			lls[i] = resps[k].Loglikelihood.LogLikelihood
			normed[i] = lls[i] / float64(d.NormLengths[i])
			k++
		}
		pred := Argmax(lls)
		if pred == d.Gold {
			acc[di] = 1
		}
		if Argmax(normed) == d.Gold {
			accNorm[di] = 1
		}
		out.Docs = append(out.Docs, plugins.DocScore{
			DocIndex:             d.Index,
			Gold:                 d.Gold,
			Prediction:           pred,
			ChoiceLogLikelihoods: lls,
			Metrics:              map[string]float64{"acc": acc[di], "acc_norm": accNorm[di]},
		})
	}
	out.Metrics = []plugins.MetricValue{
		MeanMetric("acc", true, acc),
		MeanMetric("acc_norm", true, accNorm),
	}
	return out, nil
}

// MCTask is a multiple-choice benchmark plugin: it loads its documents with
// Load and does the rest the same way for every such benchmark.
type MCTask struct {
	Info    plugins.TaskInfo // Name, Category, Description, Version; Metrics and Options are filled in
	Dataset Dataset
	Extra   []plugins.OptionInfo // options besides "data"
	// Load reads every document of the data the options name. announce:
	// say on the log when the embedded subset is used.
	Load func(opts Options, announce bool) ([]MCDoc, error)
}

func (t *MCTask) options() []plugins.OptionInfo {
	return append([]plugins.OptionInfo{t.Dataset.DataOption()}, t.Extra...)
}

// Describe implements plugins.Task.
func (t *MCTask) Describe(context.Context) (plugins.TaskInfo, error) {
	info := t.Info
	info.OutputType = plugins.OutputMultipleChoice
	info.Metrics = MCMetrics()
	info.DataFiles = []string{t.Dataset.Describe()}
	info.Options = t.options()
	return info, nil
}

func (t *MCTask) selected(opts plugins.TaskOptions, announce bool) ([]MCDoc, error) {
	o, err := ParseOptions(t.Info.Name, t.options(), opts.Options)
	if err != nil {
		return nil, err
	}
	all, err := t.Load(o, announce)
	if err != nil {
		return nil, err
	}
	idx, err := SelectDocs(t.Info.Name, len(all), opts)
	if err != nil {
		return nil, err
	}
	docs := make([]MCDoc, len(idx))
	for i, j := range idx {
		docs[i] = all[j]
	}
	return docs, nil
}

// Requests implements plugins.Task.
func (t *MCTask) Requests(_ context.Context, opts plugins.TaskOptions) ([]plugins.Request, error) {
	docs, err := t.selected(opts, true)
	if err != nil {
		return nil, err
	}
	return MCRequests(docs), nil
}

// Score implements plugins.Task.
func (t *MCTask) Score(_ context.Context, opts plugins.TaskOptions, reqs []plugins.Request, resps []plugins.Response) (plugins.Scores, error) {
	docs, err := t.selected(opts, false)
	if err != nil {
		return plugins.Scores{}, err
	}
	return MCScore(t.Info.Name, docs, reqs, resps)
}

// CheckGold reports a gold index outside the choices.
func CheckGold(gold, nChoices int) error {
	if gold < 0 || gold >= nChoices {
		return fmt.Errorf("gold %d out of range for %d choices", gold, nChoices)
	}
	return nil
}
