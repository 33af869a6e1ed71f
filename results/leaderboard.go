package results

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// LeaderboardOptions tunes BuildLeaderboard.
type LeaderboardOptions struct {
	// Kind is the intervention compared with the baseline, one row per
	// configuration (each single block, and each set of blocks run
	// together); "" picks one from the runs (DetectKind: attention
	// short-circuit, the paper's bypass, when it was run).
	Kind intervention.Kind
	// MaxAbilityLoss is the ability loss (relative, 0.05 = 5%) a
	// configuration may cost to be named a model's best; 0 means 5%.
	MaxAbilityLoss float64
	// AbilityTasks, when set, are the tasks whose main metrics make up the
	// ability change (the others are still shown). Use it when some
	// benchmarks sit at chance for a model and would only add noise.
	AbilityTasks []string
	// Holm marks a change significant by its Holm-adjusted p-value
	// (across the configurations of the sweep) instead of its own.
	Holm bool
}

// DefaultMaxAbilityLoss is the default ability budget of the best block.
const DefaultMaxAbilityLoss = 0.05

// Roles of a metric in the leaderboard.
const (
	RoleMemorization = "memorization" // a metric of the memorization task
	RoleAbility      = "ability"      // the main metric of another task
	RoleOther        = "other"        // further metrics of other tasks
)

// Leaderboard compares models configuration by configuration: for each,
// the baseline, the score with each block (or set of blocks) bypassed, and
// what the bypass costs, each change with its paired significance.
type Leaderboard struct {
	Kind           intervention.Kind
	MaxAbilityLoss float64
	AbilityTasks   []string     // tasks the ability change averages; nil: every ability task
	Holm           bool         // significance by Holm-adjusted p-values
	Models         []ModelBoard // ranked: most memorization removed within the ability budget first
	Notes          []string     // data problems worth knowing (duplicates, missing baselines)
}

// ModelBoard is one model's part of the leaderboard: one set of weights
// (model_hash) on one backend and dtype, whatever names it was run under.
type ModelBoard struct {
	Model, Backend, DType string
	ModelHash             string
	Names                 []string // every name these weights were run under, first seen first (Model is Names[0])
	Sources               []string // where they came from, as the runs recorded it ("folder /path", "hub Org/name@rev (commit …)", "embedded")
	Label                 string   // the names, plus a short hash, backend and dtype where needed to tell rows apart
	RunIDs                []string
	// Configs are the configurations with results: single blocks
	// ascending, then sets of blocks run together.
	Configs []Config
	// Blocks lists the single blocks among Configs, ascending.
	Blocks []int

	// Headline is the memorization series the trade-off uses (exact_match
	// of the memorization task when there is one); nil without any.
	Headline     *Series
	Memorization []Series // the memorization task's metrics
	Ability      []Series // each other task's main metric
	Other        []Series // the other tasks' remaining metrics

	Tradeoffs []Tradeoff // one per configuration, aligned with Configs
	Best      int        // index into Configs of the best one; -1 when none is within the budget
}

// Config is one configuration of a model: the blocks bypassed together.
type Config struct {
	Intervention intervention.Intervention
	Label        string // "5", "4,5", "20-23"
}

// Block returns the configuration's block when it bypasses a single one.
func (c Config) Block() (int, bool) {
	if len(c.Intervention.Blocks) == 1 {
		return c.Intervention.Blocks[0], true
	}
	return 0, false
}

// Series is one (task, metric) of a model: the baseline and each
// configuration.
type Series struct {
	Task, TaskCategory, Metric string
	HigherIsBetter             bool
	Role                       string
	// LessMemorizedWhenLower is set for memorization metrics: true when a
	// lower value means less memorization (exact_match, token_accuracy),
	// false for completion_entropy.
	LessMemorizedWhenLower bool
	Baseline               Score
	Configs                []Score // aligned with ModelBoard.Configs
}

// Score is one measured value; Present is false where nothing was measured.
type Score struct {
	Value, Stderr float64
	N             int
	Present       bool
	RunID         string
	// Diff is the paired comparison of this configuration's documents
	// with the baseline's in the same run; nil where there is none (the
	// baseline itself, metrics without per-document scores such as group
	// breakdowns).
	Diff *Comparison
}

// Significance says whether a change was tested and found significant.
type Significance int

const (
	Untested Significance = iota
	NotSignificant
	Significant
)

// Significance of a configuration's score against the baseline.
func (lb *Leaderboard) Significance(s Score) Significance {
	return significance(s, lb.Holm)
}

func significance(s Score, holm bool) Significance {
	switch {
	case s.Diff == nil:
		return Untested
	case s.Diff.Significant(holm):
		return Significant
	}
	return NotSignificant
}

// Tradeoff is what bypassing one configuration does.
type Tradeoff struct {
	Config Config
	// MemorizationChange is the relative change of the headline
	// memorization metric, signed so that negative means less memorized
	// (-0.49: 49% of the memorization is gone). NaN when unknown.
	MemorizationChange float64
	// MemorizationSignificance is the paired test of that change.
	MemorizationSignificance Significance
	// AbilityChange is the mean relative change of the ability metrics,
	// signed so that negative means worse (-0.044: 4.4% lost). NaN when
	// unknown.
	AbilityChange float64
	// SignificantAbilityChange is the same mean with every change that the
	// paired test finds not significant counted as 0 (untested changes
	// count as measured). The best-configuration rule uses it.
	SignificantAbilityChange float64
	// Pareto is set when no other configuration removes at least as much
	// memorization at no more ability loss (and strictly better in one).
	Pareto bool
}

// Change returns the relative change of a configuration's score versus
// the baseline, (v-b)/|b|; NaN when either is missing or the baseline is 0.
func (s Series) Change(i int) float64 {
	if i < 0 || i >= len(s.Configs) {
		return math.NaN()
	}
	return relChange(s.Configs[i], s.Baseline)
}

// ChangeInterval is the 95% interval of Change from the paired
// comparison (the bootstrap of the relative change of the per-document
// means). NaNs when untested.
func (s Series) ChangeInterval(i int) (lo, hi float64) {
	if i < 0 || i >= len(s.Configs) || s.Configs[i].Diff == nil {
		return math.NaN(), math.NaN()
	}
	return s.Configs[i].Diff.RelLow, s.Configs[i].Diff.RelHigh
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
	return task == MemorizationTask || category == plugins.CategoryMemorization
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

// modelKey is one row of the leaderboard: one set of weights on one
// backend and dtype. Rows without a hash (hand-made tables) key on the name.
type modelKey struct{ weights, backend, dtype string }

func keyOf(c Cell) modelKey {
	w := c.ModelHash
	if w == "" {
		w = "name:" + c.Model
	}
	return modelKey{w, c.Backend, c.DType}
}

type seriesKey struct{ task, metric string }

// comparisonIndex finds a cell's comparison with the baseline.
type comparisonIndex map[string]*Comparison

func indexComparisons(cs []Comparison) comparisonIndex {
	idx := comparisonIndex{}
	for i := range cs {
		if cs[i].Reference.IsBaseline() {
			idx[cellKey(cs[i].Cell)+"\x00"+cs[i].Metric] = &cs[i]
		}
	}
	return idx
}

// configOrder sorts configurations: single blocks ascending, then sets of
// blocks by size and first blocks.
func configOrder(a, b intervention.Intervention) int {
	sa, sb := len(a.Blocks) == 1, len(b.Blocks) == 1
	if sa != sb {
		if sa {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(len(a.Blocks), len(b.Blocks)); c != 0 {
		return c
	}
	return slices.Compare(a.Blocks, b.Blocks)
}

// BuildLeaderboard compares the models of the given runs. Runs whose
// Comparisons are loaded (LoadLeaderboard does) get significance marks.
func BuildLeaderboard(runs []*Run, opt LeaderboardOptions) (*Leaderboard, error) {
	if opt.Kind == "" {
		opt.Kind = DetectKind(runs)
	}
	if opt.MaxAbilityLoss <= 0 {
		opt.MaxAbilityLoss = DefaultMaxAbilityLoss
	}
	lb := &Leaderboard{Kind: opt.Kind, MaxAbilityLoss: opt.MaxAbilityLoss, AbilityTasks: opt.AbilityTasks, Holm: opt.Holm}

	// Newer runs win where runs overlap.
	runs = slices.Clone(runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Info.Finished.Before(runs[j].Info.Finished) })

	type modelData struct {
		names   []string
		hash    string
		runs    []string
		base    map[seriesKey]entry
		configs map[string]map[seriesKey]entry // intervention spec → scores
		ivs     map[string]intervention.Intervention
		order   map[seriesKey]int // first-seen order of metrics
		tasks   map[string][]string
		hashes  map[string]string // run id → model hash
		sources []string
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
	twice := map[string]bool{} // "run\x00names" of weights measured under two names in one run
	var twiceNotes []string
	for _, run := range runs {
		cmps := indexComparisons(run.Comparisons)
		srcs := ModelSources(run.Info)
		for _, m := range run.Metrics {
			k := keyOf(m.Cell)
			md := models[k]
			if md == nil {
				md = &modelData{base: map[seriesKey]entry{}, configs: map[string]map[seriesKey]entry{}, ivs: map[string]intervention.Intervention{},
					order: map[seriesKey]int{}, tasks: map[string][]string{}, hashes: map[string]string{}, hash: m.ModelHash}
				models[k] = md
				keys = append(keys, k)
			}
			if !slices.Contains(md.names, m.Model) {
				md.names = append(md.names, m.Model)
			}
			if src, ok := srcs[m.Model]; ok && !slices.Contains(md.sources, src.Describe()) {
				md.sources = append(md.sources, src.Describe())
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
			e := entry{score: Score{Value: m.Value, Stderr: m.Stderr, N: m.N, Present: true, RunID: run.Info.RunID}, category: m.TaskCategory, hib: m.HigherIsBetter, model: m.Model}
			var target map[seriesKey]entry
			iv := normalizeIntervention(m.Intervention)
			switch {
			case iv.IsBaseline():
				target = md.base
			case iv.Kind == opt.Kind:
				spec := iv.String()
				if md.configs[spec] == nil {
					md.configs[spec] = map[seriesKey]entry{}
					md.ivs[spec] = iv
				}
				target = md.configs[spec]
				e.score.Diff = cmps[cellKey(m.Cell)+"\x00"+m.Metric]
			default:
				md.skipped++
				continue
			}
			if old, ok := target[sk]; ok {
				switch {
				case old.score.RunID != run.Info.RunID:
					dups++
					if dupExample == "" {
						dupExample = fmt.Sprintf("%s %s %s/%s in runs %s and %s", m.Model, iv, m.Task, m.Metric, old.score.RunID, run.Info.RunID)
					}
				case old.model != m.Model:
					key := run.Info.RunID + "\x00" + old.model + "\x00" + m.Model
					if !twice[key] {
						twice[key] = true
						twiceNotes = append(twiceNotes, fmt.Sprintf("%s and %s in run %s are the same weights (%s) measured twice; %s's scores are shown",
							old.model, m.Model, run.Info.RunID, ShortHash(m.ModelHash), m.Model))
					}
				}
			}
			target[sk] = e
		}
	}
	if dups > 0 {
		lb.Notes = append(lb.Notes, fmt.Sprintf("%d scores were measured in more than one run (e.g. %s); the newest run's are shown", dups, dupExample))
	}
	lb.Notes = append(lb.Notes, twiceNotes...)

	labels := rowLabels(keys, func(k modelKey) []string { return models[k].names })
	for _, k := range keys {
		if names := models[k].names; len(names) > 1 {
			lb.Notes = append(lb.Notes, fmt.Sprintf("%s are one set of weights (%s): ranked as one row", strings.Join(names, " and "), ShortHash(models[k].hash)))
		}
	}
	lb.Notes = append(lb.Notes, sameNameNotes(keys, func(k modelKey) []string { return models[k].names }, func(k modelKey) string { return models[k].hash })...)

	for _, k := range keys {
		md := models[k]
		mb := ModelBoard{Model: md.names[0], Names: md.names, Sources: md.sources, ModelHash: md.hash, Backend: k.backend, DType: k.dtype, Label: labels[k], RunIDs: md.runs, Best: -1}
		var ivs []intervention.Intervention
		for _, iv := range md.ivs {
			ivs = append(ivs, iv)
		}
		slices.SortFunc(ivs, configOrder)
		var specs []string
		for _, iv := range ivs {
			mb.Configs = append(mb.Configs, Config{Intervention: iv, Label: iv.BlocksString()})
			specs = append(specs, iv.String())
			if len(iv.Blocks) == 1 {
				mb.Blocks = append(mb.Blocks, iv.Blocks[0])
			}
		}
		if md.skipped > 0 {
			lb.Notes = append(lb.Notes, fmt.Sprintf("%s: %d scores of other interventions (only the baseline and %s configurations are compared)", mb.Label, md.skipped, opt.Kind))
		}
		if len(md.base) == 0 {
			lb.Notes = append(lb.Notes, fmt.Sprintf("%s: no baseline (intervention none) was measured, so changes cannot be computed", mb.Label))
		}
		lb.Notes = append(lb.Notes, mixedRunNotes(mb.Label, md.base, md.configs, infos)...)

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
			for _, spec := range specs {
				if e, ok := md.configs[spec][sk]; ok && !found {
					any, found = e, true
				}
			}
			if !found {
				continue // only measured under other interventions
			}
			s := Series{Task: sk.task, TaskCategory: any.category, Metric: sk.metric, HigherIsBetter: any.hib}
			s.Baseline = md.base[sk].score
			for _, spec := range specs {
				s.Configs = append(s.Configs, md.configs[spec][sk].score)
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
		mb.computeTradeoffs(opt.MaxAbilityLoss, opt.AbilityTasks, opt.Holm)
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

// rowLabels names each row by its model names; where two rows would share
// a label, the short weights hash is added when their weights differ, and
// the backend and dtype when their weights are the same.
func rowLabels(keys []modelKey, names func(modelKey) []string) map[modelKey]string {
	base := map[modelKey]string{}
	groups := map[string][]modelKey{}
	for _, k := range keys {
		base[k] = strings.Join(names(k), " = ")
		groups[base[k]] = append(groups[base[k]], k)
	}
	out := map[modelKey]string{}
	for _, k := range keys {
		l := base[k]
		group := groups[l]
		if len(group) > 1 {
			otherWeights, sameWeights := false, false
			for _, o := range group {
				if o == k {
					continue
				}
				if o.weights != k.weights {
					otherWeights = true
				} else {
					sameWeights = true
				}
			}
			if otherWeights && !strings.HasPrefix(k.weights, "name:") {
				l += " " + ShortHash(k.weights)
			}
			if sameWeights {
				l += fmt.Sprintf(" [%s %s]", k.backend, k.dtype)
			}
		}
		out[k] = l
	}
	return out
}

// sameNameNotes says where one model name stands for different weights.
func sameNameNotes(keys []modelKey, names func(modelKey) []string, hash func(modelKey) string) []string {
	byName := map[string][]string{}
	var order []string
	for _, k := range keys {
		for _, n := range names(k) {
			h := hash(k)
			if h == "" {
				continue
			}
			if _, ok := byName[n]; !ok {
				order = append(order, n)
			}
			if !slices.Contains(byName[n], h) {
				byName[n] = append(byName[n], h)
			}
		}
	}
	var notes []string
	for _, n := range order {
		if hs := byName[n]; len(hs) > 1 {
			short := make([]string, len(hs))
			for i, h := range hs {
				short[i] = ShortHash(h)
			}
			notes = append(notes, fmt.Sprintf("%s: different weights were measured under this name (%s); they are ranked as separate rows, labelled by hash: give the folders different names (or --model NAME=DIR) to tell them apart",
				n, strings.Join(short, ", ")))
		}
	}
	return notes
}

// entry is one score of the leaderboard with what it needs to be placed.
type entry struct {
	score    Score
	category string
	hib      bool
	model    string // the name it was measured under
}

// mixedRunNotes warns where a model's shown scores come from runs that
// ran a task with different settings (limit, docs, data, options): their
// changes would compare unlike things.
func mixedRunNotes(label string, base map[seriesKey]entry, configs map[string]map[seriesKey]entry, infos map[string]RunInfo) []string {
	taskRuns := map[string][]string{}
	add := func(cells map[seriesKey]entry) {
		for sk, e := range cells {
			if id := e.score.RunID; !slices.Contains(taskRuns[sk.task], id) {
				taskRuns[sk.task] = append(taskRuns[sk.task], id)
			}
		}
	}
	add(base)
	for _, cells := range configs {
		add(cells)
	}
	var notes []string
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
		case plugins.CategoryLanguage:
			return 0
		case plugins.CategoryReasoning:
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

// bestRemoved is the memorization the best configuration removes (0..1);
// -1 without one, so such models rank last.
func (mb ModelBoard) bestRemoved() float64 {
	if mb.Best < 0 {
		return -1
	}
	return -mb.Tradeoffs[mb.Best].MemorizationChange
}

func (mb *ModelBoard) computeTradeoffs(budget float64, abilityTasks []string, holm bool) {
	mb.Tradeoffs = make([]Tradeoff, len(mb.Configs))
	for i, c := range mb.Configs {
		t := Tradeoff{Config: c, MemorizationChange: math.NaN(), AbilityChange: math.NaN(), SignificantAbilityChange: math.NaN()}
		if mb.Headline != nil {
			t.MemorizationChange = mb.Headline.goodChange(i)
			t.MemorizationSignificance = significance(mb.Headline.Configs[i], holm)
		}
		sum, sig, n := 0.0, 0.0, 0
		for _, s := range mb.Ability {
			if len(abilityTasks) > 0 && !slices.Contains(abilityTasks, s.Task) {
				continue
			}
			if c := s.goodChange(i); !math.IsNaN(c) {
				sum += c
				if significance(s.Configs[i], holm) != NotSignificant {
					sig += c
				}
				n++
			}
		}
		if n > 0 {
			t.AbilityChange = sum / float64(n)
			t.SignificantAbilityChange = sig / float64(n)
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
		// Best: the most memorization removed (a change the paired test
		// does not reject as noise), losing at most budget of ability,
		// counting only significant ability changes.
		if -t.SignificantAbilityChange <= budget+1e-12 && t.MemorizationChange < 0 && t.MemorizationSignificance != NotSignificant {
			if mb.Best < 0 || t.MemorizationChange < mb.Tradeoffs[mb.Best].MemorizationChange ||
				(t.MemorizationChange == mb.Tradeoffs[mb.Best].MemorizationChange && t.AbilityChange > mb.Tradeoffs[mb.Best].AbilityChange) {
				mb.Best = i
			}
		}
	}
}

// LoadRuns finds the runs at or below paths and reads their metrics and
// comparisons tables (comparisons computed from docs.arrow for runs
// written before memscope stored them).
func LoadRuns(paths ...string) ([]*Run, error) {
	dirs, err := FindRuns(paths...)
	if err != nil {
		return nil, err
	}
	var runs []*Run
	for _, d := range dirs {
		r, err := ReadSummary(d)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// ReadSummary reads what the leaderboard and the figures use of the run in
// dir: its metrics and its comparisons.
func ReadSummary(dir string) (*Run, error) {
	r, err := ReadMetrics(dir)
	if err != nil {
		return nil, err
	}
	if r.Comparisons, err = ReadComparisons(dir); err != nil {
		return nil, err
	}
	return r, nil
}

// LoadLeaderboard finds the runs at or below paths and compares them.
func LoadLeaderboard(paths []string, opt LeaderboardOptions) (*Leaderboard, error) {
	runs, err := LoadRuns(paths...)
	if err != nil {
		return nil, err
	}
	return BuildLeaderboard(runs, opt)
}
