// Package resultstest builds synthetic memscope runs for tests: no model is
// needed. The numbers follow the shape of the paper's finding (bypassing a
// late block's attention removes much memorization at little cost to
// general ability; early blocks cost ability) so that leaderboards and
// figures have something meaningful to show.
package resultstest

import (
	"fmt"
	"math"
	"time"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// Model describes one synthetic model.
type Model struct {
	Name   string
	Blocks int
	// Strength scales its memorization (0..1).
	Strength float64
	// Ability scales its benchmark accuracy (0..1).
	Ability float64
	// MemPeak is the relative depth (0 first block, 1 last) whose bypass
	// removes the most memorization.
	MemPeak float64
	// Sets are extra configurations: blocks bypassed together.
	Sets [][]int
}

// DefaultModels are two small models with six blocks each.
var DefaultModels = []Model{
	{Name: "pythia-tiny", Blocks: 6, Strength: 0.9, Ability: 0.8, MemPeak: 1},
	{Name: "gptneo-tiny", Blocks: 6, Strength: 0.6, Ability: 0.7, MemPeak: 0.75},
}

// Task describes one synthetic task.
type Task struct {
	Name, Category string
	Metrics        []Metric
	Docs           int // documents per cell (docs and requests tables)
	Choices        int // choices per doc; 0 = not multiple choice
}

// Metric is one aggregate metric of a synthetic task.
type Metric struct {
	Name           string
	HigherIsBetter bool
	PerDoc         bool
}

// DefaultTasks: memorization, held-out perplexity and two benchmarks.
// Their per-document scores are paired across configurations, like real
// ones: 0/1 metrics flip on the documents nearest the decision, so small
// changes on 40 documents are noise and large ones are significant.
var DefaultTasks = []Task{
	{Name: "memorization", Category: plugins.CategoryMemorization, Docs: 40, Metrics: []Metric{
		{"exact_match", true, true}, {"token_accuracy", true, true}, {"completion_entropy", false, true}}},
	{Name: "heldout_perplexity", Category: plugins.CategoryLanguage, Docs: 30, Metrics: []Metric{
		{"nll", false, true}, {"perplexity", false, false}}},
	{Name: "lambada_openai", Category: plugins.CategoryLanguage, Docs: 40, Metrics: []Metric{
		{"acc", true, true}, {"perplexity", false, false}}},
	{Name: "piqa", Category: plugins.CategoryReasoning, Docs: 40, Choices: 2, Metrics: []Metric{
		{"acc", true, true}, {"acc_norm", true, true}}},
}

// Info is the provenance the synthetic runs carry.
func Info(runID string) results.RunInfo {
	return results.RunInfo{
		RunID:            runID,
		HarnessVersion:   "v0.0.0-test",
		GitCommit:        "0123456789abcdef0123456789abcdef01234567",
		Started:          time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Finished:         time.Date(2026, 1, 2, 4, 5, 6, 0, time.UTC),
		Machine:          "test-machine (2 cores)",
		BatchSize:        8,
		Seed:             1234,
		Limit:            100,
		Docs:             "0-99",
		TaskConfigHashes: map[string]string{"piqa": "sha256:aa", "memorization": "sha256:bb"},
		Extra:            map[string]string{"note": "synthetic"},
	}
}

// Cells builds every cell of a sweep: for each model, the baseline and
// each block short-circuited alone, on every task.
func Cells(models []Model, tasks []Task) []results.CellResult {
	var out []results.CellResult
	for _, m := range models {
		ivs := []intervention.Intervention{intervention.Baseline()}
		for b := range m.Blocks {
			ivs = append(ivs, intervention.New(intervention.AttnShortCircuit, b))
		}
		for _, set := range m.Sets {
			ivs = append(ivs, intervention.New(intervention.AttnShortCircuit, set...))
		}
		for _, iv := range ivs {
			for _, t := range tasks {
				out = append(out, cell(m, iv, t))
			}
		}
	}
	return out
}

// effect returns how much bypassing block b of model m removes of
// memorization (mem) and of ability (abil), both in [0,1).
func effect(iv intervention.Intervention, m Model) (mem, abil float64) {
	if iv.IsBaseline() {
		return 0, 0
	}
	if len(iv.Blocks) > 1 { // blocks together: memorization removed compounds, ability costs add up
		keep := 1.0
		for _, b := range iv.Blocks {
			m1, a1 := effect(intervention.New(iv.Kind, b), m)
			keep *= 1 - m1
			abil += a1
		}
		return 1 - keep, abil
	}
	b := iv.Blocks[0]
	depth := float64(b) / float64(max(m.Blocks-1, 1)) // 0 first block, 1 last
	d := (depth - m.MemPeak) / 0.3
	mem = 0.1 + 0.75*math.Exp(-d*d)                             // memorization sits around MemPeak
	abil = 0.28*(1-depth)*(1-depth) + 0.015 + 0.01*float64(b%2) // early blocks carry ability
	if b == 0 {
		abil += 0.25 // the first block is special in every model
	}
	return mem, abil
}

func cell(m Model, iv intervention.Intervention, t Task) results.CellResult {
	c := results.Cell{
		Model: m.Name, ModelHash: "sha256:" + m.Name, Backend: "cpu", DType: "float32",
		Intervention: iv, Task: t.Name, TaskVersion: "1", TaskCategory: t.Category,
	}
	mem, abil := effect(iv, m)
	value := func(metric string) float64 {
		switch metric {
		case "exact_match":
			return round(m.Strength * 0.5 * (1 - mem))
		case "token_accuracy":
			return round(0.25 + m.Strength*0.6*(1-0.8*mem))
		case "completion_entropy":
			return round(0.6 + 2.2*mem - 0.4*m.Strength)
		case "nll":
			return round(3.2 + 0.8*(1-m.Ability) + 1.6*abil)
		case "perplexity":
			if t.Name == "heldout_perplexity" {
				return round(math.Exp(3.2 + 0.8*(1-m.Ability) + 1.6*abil))
			}
			return round(8 + 30*(1-m.Ability) + 120*abil)
		case "acc":
			if t.Category == plugins.CategoryReasoning {
				return round(0.5 + 0.25*m.Ability*(1-abil))
			}
			return round(0.6 * m.Ability * (1 - 1.3*abil))
		case "acc_norm":
			return round(0.5 + 0.27*m.Ability*(1-abil))
		}
		return 0
	}
	res := results.CellResult{Cell: c}
	for _, mt := range t.Metrics {
		v := value(mt.Name)
		stderr := round(math.Sqrt(math.Max(v*(1-v), 0.01) / 100))
		if mt.Name == "perplexity" {
			stderr = math.NaN()
		}
		res.Metrics = append(res.Metrics, results.MetricRow{Cell: c, Metric: mt.Name, Value: v, Stderr: stderr, N: 100, HigherIsBetter: mt.HigherIsBetter})
	}
	for d := range t.Docs {
		doc := results.DocRow{Cell: c, DocIndex: d, Gold: -1, Prediction: -1, Metrics: map[string]float64{}}
		for _, mt := range t.Metrics {
			if mt.PerDoc {
				doc.Metrics[mt.Name] = docValue(value(mt.Name), mt.Name, d, t.Docs, iv)
			}
		}
		if t.Choices > 0 {
			doc.Gold = d % t.Choices
			doc.Prediction = (d + 1) % t.Choices
			for k := range t.Choices {
				doc.ChoiceLogLikelihoods = append(doc.ChoiceLogLikelihoods, round(-1.5-float64(k)-0.1*float64(d)-abil))
				res.Requests = append(res.Requests, results.RequestRow{
					Cell: c, DocIndex: d, RequestIndex: k, RequestType: plugins.KindLoglikelihood,
					Context:       fmt.Sprintf("Question: how do I do thing %d?\nAnswer:", d),
					Continuation:  fmt.Sprintf(" solution %d", k),
					LogLikelihood: doc.ChoiceLogLikelihoods[k], IsGreedy: k == doc.Prediction,
					ContextTokens: 9 + d, ContinuationTokens: 2,
				})
			}
		} else {
			switch t.Name {
			case "memorization":
				// As the memorization task asks: a greedy generation from
				// the prefix, then a teacher-forced pass over prefix+suffix.
				prefix := []int32{int32(10 + d), 11, 12}
				suffix := []int32{13, int32(14 + d)}
				generated := []int32{13, 14} // reproduces the suffix of doc 0 only
				res.Requests = append(res.Requests, results.RequestRow{
					Cell: c, DocIndex: d, RequestIndex: 0, RequestType: plugins.KindGenerateTokens,
					InputIDs: prefix, LogLikelihood: math.NaN(), IsGreedy: true,
					ContextTokens: len(prefix), ContinuationTokens: len(generated), GeneratedIDs: generated,
				}, results.RequestRow{
					Cell: c, DocIndex: d, RequestIndex: 1, RequestType: plugins.KindLoglikelihoodRolling,
					InputIDs: append(append([]int32{}, prefix...), suffix...), LogLikelihood: round(-2 - 0.5*float64(d) - abil),
					IsGreedy: d == 0, ContextTokens: len(prefix), ContinuationTokens: len(suffix),
				})
			case "heldout_perplexity":
				res.Requests = append(res.Requests, results.RequestRow{
					Cell: c, DocIndex: d, RequestIndex: 0, RequestType: plugins.KindLoglikelihoodRolling,
					Context:       fmt.Sprintf("%s document %d", t.Name, d),
					LogLikelihood: round(-2 - 0.5*float64(d) - abil), IsGreedy: d%2 == 0,
					ContinuationTokens: 32,
				})
			default:
				res.Requests = append(res.Requests, results.RequestRow{
					Cell: c, DocIndex: d, RequestIndex: 0, RequestType: plugins.KindLoglikelihood,
					Context:       fmt.Sprintf("%s document %d", t.Name, d),
					Continuation:  fmt.Sprintf(" continued %d", d),
					LogLikelihood: round(-2 - 0.5*float64(d) - abil), IsGreedy: d%2 == 0,
					ContextTokens: 32, ContinuationTokens: 1,
				})
			}
		}
		res.Docs = append(res.Docs, doc)
	}
	return res
}

func round(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// docValue is document d's score of a metric whose aggregate is v. 0/1
// metrics: the document is right when its fixed difficulty (d+0.5)/n is
// below v, so a configuration changes the documents between its value and
// the baseline's, and nothing else. Others: v plus a per-document offset
// shared by every configuration and a little noise of the configuration.
func docValue(v float64, metric string, d, n int, iv intervention.Intervention) float64 {
	switch metric {
	case "exact_match", "acc", "acc_norm":
		if (float64(d)+0.5)/float64(n) < v {
			return 1
		}
		return 0
	}
	offset := 0.1 * (float64(d)/float64(max(n-1, 1)) - 0.5)
	noise := 0.02 * math.Sin(float64(7*d+13*len(iv.Blocks)+31*firstBlock(iv)))
	return round(v + offset + noise)
}

func firstBlock(iv intervention.Intervention) int {
	if len(iv.Blocks) == 0 {
		return -1
	}
	return iv.Blocks[0]
}

// Write writes a synthetic sweep of models on tasks into dir.
func Write(dir, runID string, models []Model, tasks []Task) error {
	w, err := results.Create(dir, Info(runID))
	if err != nil {
		return err
	}
	for _, c := range Cells(models, tasks) {
		if err := w.Add(c); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}
