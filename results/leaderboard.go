package results

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/memscope/memscope/intervention"
)

// LeaderboardOptions tunes BuildLeaderboard.
type LeaderboardOptions struct {
	// Kind is the intervention compared with the baseline, one block at a
	// time; "" picks one from the runs (DetectKind: attention short-circuit,
	// the paper's bypass, when it was run).
	Kind intervention.Kind
	// MaxAbilityLoss is the ability loss (relative, 0.05 = 5%) a block's
	// bypass may cost to be named a model's best block; 0 means 5%.
	MaxAbilityLoss float64
	// AbilityTasks, when set, are the tasks whose main metrics make up the
	// ability change (the others are still shown). Use it when some
	// benchmarks sit at chance for a model and would only add noise.
	AbilityTasks []string
}

// DefaultMaxAbilityLoss is the default ability budget of the best block.
const DefaultMaxAbilityLoss = 0.05

// Roles of a metric in the leaderboard.
const (
	RoleMemorization = "memorization" // a metric of the memorization task
	RoleAbility      = "ability"      // the main metric of another task
	RoleOther        = "other"        // further metrics of other tasks
)

// Leaderboard compares models block by block: for each, the baseline, the
// score with each block bypassed alone, and what the bypass costs.
type Leaderboard struct {
	Kind           intervention.Kind
	MaxAbilityLoss float64
	AbilityTasks   []string     // tasks the ability change averages; nil: every ability task
	Models         []ModelBoard // ranked: most memorization removed within the ability budget first
	Notes          []string     // data problems worth knowing (duplicates, missing baselines)
}

// ModelBoard is one model's part of the leaderboard.
type ModelBoard struct {
	Model, Backend, DType string
	Label                 string // Model, plus backend and dtype when the same model appears with several
	RunIDs                []string
	Blocks                []int // blocks with single-block results, ascending

	// Headline is the memorization series the trade-off uses (exact_match
	// of the memorization task when there is one); nil without any.
	Headline     *Series
	Memorization []Series // the memorization task's metrics
	Ability      []Series // each other task's main metric
	Other        []Series // the other tasks' remaining metrics

	Tradeoffs []Tradeoff // one per block, aligned with Blocks
	Best      int        // index into Blocks of the best block; -1 when none is within the budget
}

// Series is one (task, metric) of a model: the baseline and each block.
type Series struct {
	Task, TaskCategory, Metric string
	HigherIsBetter             bool
	Role                       string
	// LessMemorizedWhenLower is set for memorization metrics: true when a
	// lower value means less memorization (exact_match, token_accuracy),
	// false for completion_entropy.
	LessMemorizedWhenLower bool
	Baseline               Score
	Blocks                 []Score // aligned with ModelBoard.Blocks
}

// Score is one measured value; Present is false where nothing was measured.
type Score struct {
	Value, Stderr float64
	N             int
	Present       bool
	RunID         string
}

// Tradeoff is what bypassing one block does.
type Tradeoff struct {
	Block int
	// MemorizationChange is the relative change of the headline
	// memorization metric, signed so that negative means less memorized
	// (-0.49: 49% of the memorization is gone). NaN when unknown.
	MemorizationChange float64
	// AbilityChange is the mean relative change of the ability metrics,
	// signed so that negative means worse (-0.044: 4.4% lost). NaN when
	// unknown.
	AbilityChange float64
	// Pareto is set when no other block removes at least as much
	// memorization at no more ability loss (and strictly better in one).
	Pareto bool
}

// Change returns the relative change of a block's score versus the
// baseline, (v-b)/|b|; NaN when either is missing or the baseline is 0.
func (s Series) Change(i int) float64 {
	if i < 0 || i >= len(s.Blocks) {
		return math.NaN()
	}
	return relChange(s.Blocks[i], s.Baseline)
}

func relChange(v, base Score) float64 {
	if !v.Present || !base.Present || base.Value == 0 || math.IsNaN(v.Value) || math.IsNaN(base.Value) {
		return math.NaN()
	}
	return (v.Value - base.Value) / math.Abs(base.Value)
}

// goodChange returns the relative change signed so that negative is the
// undesired direction for ability (worse) and for memorization the
// direction of less memorization.
func (s Series) goodChange(i int) float64 {
	c := s.Change(i)
	switch s.Role {
	case RoleMemorization:
		if !s.LessMemorizedWhenLower {
			return -c
		}
		return c
	default:
		if !s.HigherIsBetter {
			return -c
		}
		return c
	}
}

// lessMemorizedWhenLower says which way a memorization metric points.
func lessMemorizedWhenLower(metric string) bool {
	m := strings.ToLower(metric)
	switch {
	case strings.Contains(m, "entropy"), strings.Contains(m, "nll"), strings.Contains(m, "perplexity"), strings.Contains(m, "loss"):
		return false
	}
	return true
}

// abilityMetricPreference orders the metrics that can stand for a task's
// general ability: accuracy for benchmarks, per-token NLL (then
// perplexities) for held-out text.
var abilityMetricPreference = []string{"acc", "nll", "nll_per_token", "bits_per_byte", "word_perplexity", "perplexity", "token_perplexity", "byte_perplexity", "acc_norm"}

// IsMemorizationTask reports whether a task measures memorization.
func IsMemorizationTask(task, category string) bool {
	return task == MemorizationTask || category == CategoryMemorization
}

// AbilityMetric picks the main metric of a non-memorization task from the
// metrics it reported (in report order).
func AbilityMetric(metrics []string) string {
	for _, p := range abilityMetricPreference {
		if slices.Contains(metrics, p) {
			return p
		}
	}
	if len(metrics) > 0 {
		return metrics[0]
	}
	return ""
}

type modelKey struct{ model, backend, dtype string }

type seriesKey struct{ task, metric string }

// BuildLeaderboard compares the models of the given runs.
func BuildLeaderboard(runs []*Run, opt LeaderboardOptions) (*Leaderboard, error) {
	if opt.Kind == "" {
		opt.Kind = DetectKind(runs)
	}
	if opt.MaxAbilityLoss <= 0 {
		opt.MaxAbilityLoss = DefaultMaxAbilityLoss
	}
	lb := &Leaderboard{Kind: opt.Kind, MaxAbilityLoss: opt.MaxAbilityLoss, AbilityTasks: opt.AbilityTasks}

	// Newer runs win where runs overlap.
	runs = slices.Clone(runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Info.Finished.Before(runs[j].Info.Finished) })

	type modelData struct {
		runs    []string
		base    map[seriesKey]entry
		blocks  map[int]map[seriesKey]entry
		order   map[seriesKey]int // first-seen order of metrics
		tasks   map[string][]string
		hashes  map[string]string // run id → model hash
		skipped int
	}
	infos := map[string]RunInfo{}
	for _, run := range runs {
		infos[run.Info.RunID] = run.Info
	}
	models := map[modelKey]*modelData{}
	var keys []modelKey
	dups := 0
	var dupExample string
	for _, run := range runs {
		for _, m := range run.Metrics {
			k := modelKey{m.Model, m.Backend, m.DType}
			md := models[k]
			if md == nil {
				md = &modelData{base: map[seriesKey]entry{}, blocks: map[int]map[seriesKey]entry{}, order: map[seriesKey]int{}, tasks: map[string][]string{}, hashes: map[string]string{}}
				models[k] = md
				keys = append(keys, k)
			}
			if !slices.Contains(md.runs, run.Info.RunID) {
				md.runs = append(md.runs, run.Info.RunID)
			}
			md.hashes[run.Info.RunID] = m.ModelHash
			sk := seriesKey{m.Task, m.Metric}
			if _, ok := md.order[sk]; !ok {
				md.order[sk] = len(md.order)
				md.tasks[m.Task] = append(md.tasks[m.Task], m.Metric)
			}
			e := entry{score: Score{Value: m.Value, Stderr: m.Stderr, N: m.N, Present: true, RunID: run.Info.RunID}, category: m.TaskCategory, hib: m.HigherIsBetter}
			var target map[seriesKey]entry
			iv := m.Intervention
			switch {
			case iv.IsBaseline():
				target = md.base
			case iv.Kind == opt.Kind && len(iv.Blocks) == 1:
				b := iv.Blocks[0]
				if md.blocks[b] == nil {
					md.blocks[b] = map[seriesKey]entry{}
				}
				target = md.blocks[b]
			default:
				md.skipped++
				continue
			}
			if old, ok := target[sk]; ok && old.score.RunID != run.Info.RunID {
				dups++
				if dupExample == "" {
					dupExample = fmt.Sprintf("%s %s %s/%s in runs %s and %s", m.Model, iv, m.Task, m.Metric, old.score.RunID, run.Info.RunID)
				}
			}
			target[sk] = e
		}
	}
	if dups > 0 {
		lb.Notes = append(lb.Notes, fmt.Sprintf("%d scores were measured in more than one run (e.g. %s); the newest run's are shown", dups, dupExample))
	}

	// Labels: the model name, with backend and dtype where it is ambiguous.
	names := map[string]int{}
	for _, k := range keys {
		names[k.model]++
	}

	for _, k := range keys {
		md := models[k]
		mb := ModelBoard{Model: k.model, Backend: k.backend, DType: k.dtype, Label: k.model, RunIDs: md.runs, Best: -1}
		if names[k.model] > 1 {
			mb.Label = fmt.Sprintf("%s [%s %s]", k.model, k.backend, k.dtype)
		}
		for b := range md.blocks {
			mb.Blocks = append(mb.Blocks, b)
		}
		sort.Ints(mb.Blocks)
		if md.skipped > 0 {
			lb.Notes = append(lb.Notes, fmt.Sprintf("%s: %d scores of other interventions (baseline and single-block %s only are compared)", mb.Label, md.skipped, opt.Kind))
		}
		if len(md.base) == 0 {
			lb.Notes = append(lb.Notes, fmt.Sprintf("%s: no baseline (intervention none) was measured, so changes cannot be computed", mb.Label))
		}
		lb.Notes = append(lb.Notes, mixedRunNotes(mb.Label, md.base, md.blocks, md.hashes, infos)...)

		sks := make([]seriesKey, 0, len(md.order))
		for sk := range md.order {
			sks = append(sks, sk)
		}
		sort.Slice(sks, func(i, j int) bool { return md.order[sks[i]] < md.order[sks[j]] })
		for _, sk := range sks {
			// Category and direction from whichever cell has them.
			var any entry
			found := false
			if e, ok := md.base[sk]; ok {
				any, found = e, true
			}
			for _, b := range mb.Blocks {
				if e, ok := md.blocks[b][sk]; ok && !found {
					any, found = e, true
				}
			}
			if !found {
				continue // only measured under other interventions
			}
			s := Series{Task: sk.task, TaskCategory: any.category, Metric: sk.metric, HigherIsBetter: any.hib}
			s.Baseline = md.base[sk].score
			for _, b := range mb.Blocks {
				s.Blocks = append(s.Blocks, md.blocks[b][sk].score)
			}
			switch {
			case IsMemorizationTask(sk.task, any.category):
				s.Role = RoleMemorization
				s.LessMemorizedWhenLower = lessMemorizedWhenLower(sk.metric)
				mb.Memorization = append(mb.Memorization, s)
			case sk.metric == AbilityMetric(md.tasks[sk.task]):
				s.Role = RoleAbility
				mb.Ability = append(mb.Ability, s)
			default:
				s.Role = RoleOther
				mb.Other = append(mb.Other, s)
			}
		}
		mb.Memorization, mb.Other = splitCoreMemorization(mb.Memorization, mb.Other)
		sortAbility(mb.Ability)
		sortAbility(mb.Other)
		for i := range mb.Memorization {
			s := &mb.Memorization[i]
			if mb.Headline == nil || (s.Metric == "exact_match" && (mb.Headline.Metric != "exact_match" || s.Task == MemorizationTask)) {
				mb.Headline = s
			}
		}
		mb.computeTradeoffs(opt.MaxAbilityLoss, opt.AbilityTasks)
		lb.Models = append(lb.Models, mb)
	}
	slices.SortStableFunc(lb.Models, func(a, b ModelBoard) int {
		ra, rb := a.bestRemoved(), b.bestRemoved()
		if c := cmp.Compare(rb, ra); c != 0 { // NaN sorts first in cmp.Compare: handled by bestRemoved
			return c
		}
		return strings.Compare(a.Label, b.Label)
	})
	return lb, nil
}

// entry is one score of the leaderboard with what it needs to be placed.
type entry struct {
	score    Score
	category string
	hib      bool
}

// mixedRunNotes warns where a model's shown scores come from runs that
// measured different weights under one name, or ran a task with different
// settings (limit, docs, data, options): their changes would compare
// unlike things.
func mixedRunNotes(label string, base map[seriesKey]entry, blocks map[int]map[seriesKey]entry, hashes map[string]string, infos map[string]RunInfo) []string {
	taskRuns := map[string][]string{}
	var allRuns []string
	add := func(cells map[seriesKey]entry) {
		for sk, e := range cells {
			id := e.score.RunID
			if !slices.Contains(taskRuns[sk.task], id) {
				taskRuns[sk.task] = append(taskRuns[sk.task], id)
			}
			if !slices.Contains(allRuns, id) {
				allRuns = append(allRuns, id)
			}
		}
	}
	add(base)
	for _, cells := range blocks {
		add(cells)
	}
	var notes []string
	sort.Strings(allRuns)
	for _, id := range allRuns[min(1, len(allRuns)):] {
		if hashes[id] != hashes[allRuns[0]] {
			notes = append(notes, fmt.Sprintf("%s: runs %s and %s measured different weights under this name (model_hash differs); give the folders different names to compare them", label, allRuns[0], id))
			break
		}
	}
	tasks := make([]string, 0, len(taskRuns))
	for task := range taskRuns {
		tasks = append(tasks, task)
	}
	sort.Strings(tasks)
	for _, task := range tasks {
		ids := taskRuns[task]
		sort.Strings(ids)
		for _, id := range ids[1:] {
			if infos[id].TaskConfigHashes[task] != infos[ids[0]].TaskConfigHashes[task] {
				notes = append(notes, fmt.Sprintf("%s: %s comes from runs %s and %s, which ran it with different settings (--limit, --docs, data or options); its changes compare unlike sets", label, task, ids[0], id))
				break
			}
		}
	}
	return notes
}

// CoreMemorizationMetrics are the paper's memorization metrics, in the
// order the leaderboard and the figures show them.
var CoreMemorizationMetrics = []string{"exact_match", "token_accuracy", "completion_entropy"}

// splitCoreMemorization keeps the core memorization metrics (in their
// order) as the memorization series, followed by exact-match breakdowns
// when there are only a few groups (e.g. "exact_match[kind=planted]" and
// "exact_match[kind=control]"), and moves the rest (extracted counts, long
// breakdowns like "exact_match[duplicates=8]") to other. A task without
// any core metric keeps all of its metrics.
func splitCoreMemorization(mem, other []Series) ([]Series, []Series) {
	var core, groups, rest []Series
	for _, name := range CoreMemorizationMetrics {
		for _, s := range mem {
			if s.Metric == name {
				core = append(core, s)
			}
		}
	}
	if len(core) == 0 {
		return mem, other
	}
	for _, s := range mem {
		switch {
		case slices.Contains(CoreMemorizationMetrics, s.Metric):
		case strings.HasPrefix(s.Metric, "exact_match["):
			groups = append(groups, s)
		default:
			rest = append(rest, s)
		}
	}
	if len(groups) <= maxShownGroups {
		core = append(core, groups...)
	} else {
		rest = append(groups, rest...)
	}
	return core, append(rest, other...)
}

// maxShownGroups is how many exact-match group columns the text
// leaderboard shows before leaving them to csv/json.
const maxShownGroups = 4

// DetectKind picks the intervention kind a leaderboard of these runs
// compares: attention short-circuit when any single-block short-circuit was
// run, else the first kind that was run on single blocks.
func DetectKind(runs []*Run) intervention.Kind {
	var first intervention.Kind
	for _, r := range runs {
		for _, m := range r.Metrics {
			iv := m.Intervention
			if iv.IsBaseline() || len(iv.Blocks) != 1 {
				continue
			}
			if iv.Kind == intervention.AttnShortCircuit {
				return iv.Kind
			}
			if first == "" {
				first = iv.Kind
			}
		}
	}
	if first == "" {
		return intervention.AttnShortCircuit
	}
	return first
}

// sortAbility orders ability series: language tasks, then reasoning, then
// the rest, each by task name.
func sortAbility(ss []Series) {
	rank := func(c string) int {
		switch c {
		case CategoryLanguage:
			return 0
		case CategoryReasoning:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(ss, func(a, b Series) int {
		if c := cmp.Compare(rank(a.TaskCategory), rank(b.TaskCategory)); c != 0 {
			return c
		}
		return strings.Compare(a.Task, b.Task)
	})
}

// bestRemoved is the memorization the best block removes (0..1); -1
// without a best block, so such models rank last.
func (mb ModelBoard) bestRemoved() float64 {
	if mb.Best < 0 {
		return -1
	}
	return -mb.Tradeoffs[mb.Best].MemorizationChange
}

func (mb *ModelBoard) computeTradeoffs(budget float64, abilityTasks []string) {
	mb.Tradeoffs = make([]Tradeoff, len(mb.Blocks))
	for i, b := range mb.Blocks {
		t := Tradeoff{Block: b, MemorizationChange: math.NaN(), AbilityChange: math.NaN()}
		if mb.Headline != nil {
			t.MemorizationChange = mb.Headline.goodChange(i)
		}
		sum, n := 0.0, 0
		for _, s := range mb.Ability {
			if len(abilityTasks) > 0 && !slices.Contains(abilityTasks, s.Task) {
				continue
			}
			if c := s.goodChange(i); !math.IsNaN(c) {
				sum += c
				n++
			}
		}
		if n > 0 {
			t.AbilityChange = sum / float64(n)
		}
		mb.Tradeoffs[i] = t
	}
	known := func(t Tradeoff) bool { return !math.IsNaN(t.MemorizationChange) && !math.IsNaN(t.AbilityChange) }
	for i, t := range mb.Tradeoffs {
		if !known(t) {
			continue
		}
		dominated := false
		for j, u := range mb.Tradeoffs {
			if i == j || !known(u) {
				continue
			}
			// u dominates t: removes at least as much memorization, loses no more ability, better in one.
			if u.MemorizationChange <= t.MemorizationChange && u.AbilityChange >= t.AbilityChange &&
				(u.MemorizationChange < t.MemorizationChange || u.AbilityChange > t.AbilityChange) {
				dominated = true
				break
			}
		}
		mb.Tradeoffs[i].Pareto = !dominated
		if -t.AbilityChange <= budget+1e-12 && t.MemorizationChange < 0 {
			if mb.Best < 0 || t.MemorizationChange < mb.Tradeoffs[mb.Best].MemorizationChange ||
				(t.MemorizationChange == mb.Tradeoffs[mb.Best].MemorizationChange && t.AbilityChange > mb.Tradeoffs[mb.Best].AbilityChange) {
				mb.Best = i
			}
		}
	}
}

// LoadLeaderboard finds the runs at or below paths and compares them.
func LoadLeaderboard(paths []string, opt LeaderboardOptions) (*Leaderboard, error) {
	dirs, err := FindRuns(paths...)
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for _, d := range dirs {
		r, err := ReadMetrics(d)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return BuildLeaderboard(runs, opt)
}
