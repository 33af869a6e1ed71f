package results

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/memscope/memscope/intervention"
)

// Leaderboard output formats.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
)

// LeaderboardFormats lists the formats Render writes.
var LeaderboardFormats = []string{FormatText, FormatMarkdown, FormatCSV, "json"}

// Render writes the leaderboard as text (aligned for a terminal),
// markdown, csv (one tidy row per model, block and metric) or json.
func (lb *Leaderboard) Render(w io.Writer, format string) error {
	switch format {
	case FormatText:
		return lb.renderDoc(w, false)
	case FormatMarkdown:
		return lb.renderDoc(w, true)
	case FormatCSV:
		return lb.renderCSV(w)
	case "json":
		return lb.renderJSON(w)
	}
	return fmt.Errorf("unknown leaderboard format %q (choose %s)", format, strings.Join(LeaderboardFormats, ", "))
}

func kindName(k intervention.Kind) string {
	switch k {
	case intervention.AttnShortCircuit:
		return "attention short-circuit (attn-sc)"
	case intervention.AttnZero:
		return "attention zero-ablation (attn-zero)"
	}
	return string(k)
}

// decimals picks one number of decimals for a whole series, so that a
// column lines up: three for the usual 0-10 range, fewer for large values
// such as perplexities or summed entropies.
func (s Series) decimals() int {
	m := 0.0
	for _, v := range append([]Score{s.Baseline}, s.Configs...) {
		if v.Present && !math.IsNaN(v.Value) && !math.IsInf(v.Value, 0) {
			m = math.Max(m, math.Abs(v.Value))
		}
	}
	switch {
	case m >= 1000:
		return 0
	case m >= 100:
		return 1
	case m >= 10:
		return 2
	}
	return 3
}

// fmtNum formats a score with the given decimals; "—" when missing.
func fmtNum(s Score, decimals int) string {
	if !s.Present || math.IsNaN(s.Value) {
		return "—"
	}
	if math.IsInf(s.Value, 0) {
		return strconv.FormatFloat(s.Value, 'f', -1, 64)
	}
	return strconv.FormatFloat(s.Value, 'f', decimals, 64)
}

func fmtPct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	s := fmt.Sprintf("%+.1f%%", 100*x)
	if s == "-0.0%" {
		s = "+0.0%"
	}
	return s
}

// markOf is the mark after a change: SignificanceMark when significant,
// a space otherwise, so that the numbers of a column line up.
func markOf(sig Significance) string {
	if sig == Significant {
		return SignificanceMark
	}
	return " "
}

// fmtChange is a relative change with its significance mark.
func fmtChange(x float64, sig Significance) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "— "
	}
	return fmtPct(x) + markOf(sig)
}

func blockList(blocks []int) string {
	if len(blocks) == 0 {
		return "—"
	}
	return intervention.New(intervention.AttnShortCircuit, blocks...).BlocksString()
}

// configList lists configurations: the single blocks as ranges, then each
// set of blocks in parentheses ("0-23, (20-23)").
func configList(cs []Config) string {
	var single []int
	var multi []string
	for _, c := range cs {
		if b, ok := c.Block(); ok {
			single = append(single, b)
		} else {
			multi = append(multi, "("+c.Label+")")
		}
	}
	var parts []string
	if len(single) > 0 {
		parts = append(parts, blockList(single))
	}
	parts = append(parts, multi...)
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// arrow points the better way for an ability metric (as memscope tasks
// prints it: higher or lower is better for the task). Memorization
// metrics get none: their table heading says which way is less memorized.
func (s Series) arrow() string {
	if s.Role == RoleMemorization {
		return ""
	}
	if s.HigherIsBetter {
		return " ↑"
	}
	return " ↓"
}

func (lb *Leaderboard) headlineName() string {
	name := ""
	for _, m := range lb.Models {
		if m.Headline == nil {
			continue
		}
		if name != "" && name != m.Headline.Metric {
			return "memorization"
		}
		name = m.Headline.Metric
	}
	if name == "" {
		return "memorization"
	}
	return name
}

// multiConfig reports whether any model has a configuration of several blocks.
func (lb *Leaderboard) multiConfig() bool {
	for _, m := range lb.Models {
		for _, c := range m.Configs {
			if _, ok := c.Block(); !ok {
				return true
			}
		}
	}
	return false
}

func (lb *Leaderboard) summaryTable() *textTable {
	h := lb.headlineName()
	t := &textTable{
		header: []string{"#", "model", "weights", "blocks", h + " baseline", "best", h + " at best", "memorization Δ", "ability Δ ↑", "significant ability Δ ↑", "Pareto-optimal"},
		right:  []bool{true, false, false, false, true, true, true, true, true, true, false},
	}
	for i, m := range lb.Models {
		base, best, there, dm, da, ds := "—", "none", "—", "—", "—", "—"
		if m.Headline != nil {
			base = fmtNum(m.Headline.Baseline, m.Headline.decimals())
		}
		if m.Best >= 0 {
			tr := m.Tradeoffs[m.Best]
			best = tr.Config.Label
			there = fmtNum(m.Headline.Configs[m.Best], m.Headline.decimals())
			dm, da, ds = fmtChange(tr.MemorizationChange, tr.MemorizationSignificance), fmtPct(tr.AbilityChange), fmtPct(tr.SignificantAbilityChange)
		}
		var pareto []string
		for _, tr := range m.Tradeoffs {
			if tr.Pareto {
				pareto = append(pareto, tr.Config.Label)
			}
		}
		p := "—"
		if len(pareto) > 0 {
			p = strings.Join(pareto, "; ")
		}
		t.add(strconv.Itoa(i+1), m.Label, ShortHash(m.ModelHash), configList(m.Configs), base, best, there, dm, da, ds, p)
	}
	return t
}

// memorizationTable: the memorization metrics and the trade-off per
// configuration.
func (lb *Leaderboard) memorizationTable(m *ModelBoard) *textTable {
	t := &textTable{header: []string{"blocks"}, right: []bool{false}}
	for _, s := range m.Memorization {
		t.header = append(t.header, s.Metric, "Δ")
		t.right = append(t.right, true, true)
	}
	t.header = append(t.header, "ability Δ ↑", "significant ability Δ ↑", "")
	t.right = append(t.right, true, true, false)
	row := []string{"baseline"}
	for _, s := range m.Memorization {
		row = append(row, fmtNum(s.Baseline, s.decimals()), "")
	}
	t.add(append(row, "", "", "")...)
	for i, c := range m.Configs {
		row := []string{c.Label}
		for _, s := range m.Memorization {
			row = append(row, fmtNum(s.Configs[i], s.decimals()), fmtChange(s.Change(i), lb.Significance(s.Configs[i])))
		}
		tr := m.Tradeoffs[i]
		t.add(append(row, fmtPct(tr.AbilityChange), fmtPct(tr.SignificantAbilityChange), m.note(i))...)
	}
	return t
}

// note marks configuration i as the best and as Pareto-optimal.
func (m *ModelBoard) note(i int) string {
	var note []string
	if i == m.Best {
		note = append(note, "◀ best")
	}
	if m.Tradeoffs[i].Pareto {
		note = append(note, "Pareto")
	}
	return strings.Join(note, ", ")
}

// abilityTable: each task's main metric per configuration.
func (lb *Leaderboard) abilityTable(m *ModelBoard) *textTable {
	t := &textTable{header: []string{"blocks"}, right: []bool{false}}
	for _, s := range m.Ability {
		t.header = append(t.header, s.Task+" "+s.Metric+s.arrow(), "Δ")
		t.right = append(t.right, true, true)
	}
	row := []string{"baseline"}
	for _, s := range m.Ability {
		row = append(row, fmtNum(s.Baseline, s.decimals()), "")
	}
	t.add(row...)
	for i, c := range m.Configs {
		row := []string{c.Label}
		for _, s := range m.Ability {
			row = append(row, fmtNum(s.Configs[i], s.decimals()), fmtChange(s.Change(i), lb.Significance(s.Configs[i])))
		}
		t.add(row...)
	}
	return t
}

// memorizationHeading says which way each memorization metric means less
// memorized.
func memorizationHeading(m *ModelBoard) string {
	var lower, higher []string
	for _, s := range m.Memorization {
		if strings.Contains(s.Metric, "[") {
			continue // group breakdowns point the way of their metric
		}
		if s.LessMemorizedWhenLower {
			lower = append(lower, s.Metric)
		} else {
			higher = append(higher, s.Metric)
		}
	}
	var parts []string
	if len(lower) > 0 {
		parts = append(parts, "lower "+strings.Join(lower, ", "))
	}
	if len(higher) > 0 {
		parts = append(parts, "higher "+strings.Join(higher, ", "))
	}
	return "Memorization (" + strings.Join(parts, "; ") + " = less memorized) and ability cost"
}

// untested lists the shown series of a model whose changes have no paired
// test (no per-document scores: group breakdowns, aggregate-only metrics).
func (m *ModelBoard) untested() []string {
	var out []string
	for _, ss := range [][]Series{m.Memorization, m.Ability} {
		for _, s := range ss {
			tested := false
			for i, c := range s.Configs {
				if c.Present && s.Configs[i].Diff != nil {
					tested = true
				}
			}
			if !tested && hasFinite(s) {
				out = append(out, s.Metric)
			}
		}
	}
	return out
}

func (lb *Leaderboard) renderDoc(w io.Writer, md bool) error {
	var b strings.Builder
	pct := fmtPct(-lb.MaxAbilityLoss)[1:]
	models := "1 model"
	if len(lb.Models) != 1 {
		models = fmt.Sprintf("%d models", len(lb.Models))
	}
	how := "one block at a time"
	if lb.multiConfig() {
		how = "one block at a time and sets of blocks"
	}
	title := fmt.Sprintf("memscope leaderboard: %s, %s, %s", kindName(lb.Kind), how, models)
	abilityOf := "each task's main metric"
	if len(lb.AbilityTasks) > 0 {
		abilityOf = "the main metric of " + strings.Join(lb.AbilityTasks, ", ")
	}
	rule := "p < 0.05"
	if lb.Holm {
		rule = "Holm-adjusted p < 0.05 across the sweep"
	}
	legend := []string{
		"memorization Δ: relative change of the memorization score vs the baseline (negative = less memorized).",
		"ability Δ: mean relative change of " + abilityOf + " vs the baseline, signed so that negative = worse; significant ability Δ counts only the changes the paired test finds significant.",
		"best: removes the most memorization (a significant change) while losing at most " + pct + " significant ability; Pareto-optimal: no other configuration removes more memorization at less ability loss.",
		SignificanceMark + " after a change: significant by a paired test on the same documents (" + rule + "; exact McNemar for 0/1 metrics, paired bootstrap otherwise; memscope results compare shows intervals and p-values).",
		"↑/↓: higher/lower is better for that task (as memscope tasks prints); weights: the model_hash of the checkpoint.",
	}
	hasMemorization := false
	for _, m := range lb.Models {
		hasMemorization = hasMemorization || len(m.Memorization) > 0
	}
	if !hasMemorization {
		// The summary ranks blocks by the memorization they remove: with no
		// memorization task it would be a table of dashes.
		if md {
			fmt.Fprintf(&b, "# %s\n\n", title)
		} else {
			b.WriteString(title + "\n\n")
		}
		fmt.Fprintf(&b, "%sNo memorization task in these runs, so no block ranking; add --tasks memorization (or your own memorization task) to rank blocks.\n", indentFor(md))
	} else if md {
		fmt.Fprintf(&b, "# %s\n\n", title)
		if err := lb.summaryTable().writeMarkdown(&b); err != nil {
			return err
		}
		b.WriteString("\n")
		for _, l := range legend {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	} else {
		b.WriteString(title + "\n\n")
		if err := lb.summaryTable().writeText(&b, "  "); err != nil {
			return err
		}
		b.WriteString("\n")
		for _, l := range legend {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for i := range lb.Models {
		m := &lb.Models[i]
		runs := "run "
		if len(m.RunIDs) > 1 {
			runs = "runs "
		}
		from := ""
		if len(m.Sources) > 0 {
			from = strings.Join(m.Sources, "; ") + "; "
		}
		head := fmt.Sprintf("%s (%s, %s, %s; %s%s%s)", m.Label, ShortHash(m.ModelHash), m.Backend, m.DType, from, runs, strings.Join(m.RunIDs, ", "))
		if md {
			fmt.Fprintf(&b, "\n## %s\n\n", head)
		} else {
			fmt.Fprintf(&b, "\n%s\n\n", head)
		}
		if len(m.Configs) == 0 {
			b.WriteString(indentFor(md) + "no results with blocks bypassed\n")
			continue
		}
		tables := []struct {
			name string
			t    *textTable
		}{
			{memorizationHeading(m), lb.memorizationTable(m)},
			{"Ability: each task's main metric (Δ = relative change vs baseline)", lb.abilityTable(m)},
		}
		for k, tb := range tables {
			if (k == 0 && len(m.Memorization) == 0) || (k == 1 && len(m.Ability) == 0) {
				continue
			}
			if md {
				fmt.Fprintf(&b, "**%s**\n\n", tb.name)
				if err := tb.t.writeMarkdown(&b); err != nil {
					return err
				}
				b.WriteString("\n")
			} else {
				fmt.Fprintf(&b, "  %s\n", tb.name)
				if err := tb.t.writeText(&b, "  "); err != nil {
					return err
				}
				b.WriteString("\n")
			}
		}
		if u := m.untested(); len(u) > 0 {
			fmt.Fprintf(&b, "%sNo paired test (no per-document scores), so never marked: %s\n", indentFor(md), strings.Join(u, ", "))
		}
		if n := len(m.Other); n > 0 {
			names := make([]string, n)
			for i, s := range m.Other {
				names[i] = s.Task + "/" + s.Metric
			}
			fmt.Fprintf(&b, "%sAlso measured (see --format csv or json): %s\n", indentFor(md), strings.Join(names, ", "))
		}
	}
	if len(lb.Notes) > 0 {
		if md {
			b.WriteString("\n**Notes**\n\n")
		} else {
			b.WriteString("\nNotes\n")
		}
		for _, n := range lb.Notes {
			fmt.Fprintf(&b, "%s- %s\n", indentFor(md), n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indentFor(md bool) string {
	if md {
		return ""
	}
	return "  "
}

// csvFloatOrEmpty renders a float for the leaderboard CSV.
func csvNum(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return csvFloat(v)
}

func (lb *Leaderboard) renderCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	// The first 19 columns are those of memscope before paired comparisons;
	// block holds a set of blocks as "4,5".
	cw.Write([]string{"rank", "model", "backend", "dtype", "block", "intervention", "role", "task", "task_category", "metric",
		"higher_is_better", "value", "stderr", "n", "baseline", "delta", "relative_delta", "best", "pareto",
		"model_hash", "delta_ci_low", "delta_ci_high", "p_value", "p_holm", "test", "significant"})
	for rank, m := range lb.Models {
		r := strconv.Itoa(rank + 1)
		all := append(append(append([]Series{}, m.Memorization...), m.Ability...), m.Other...)
		for _, s := range all {
			if s.Baseline.Present {
				cw.Write([]string{r, m.Model, m.Backend, m.DType, "", "none", s.Role, s.Task, s.TaskCategory, s.Metric,
					strconv.FormatBool(s.HigherIsBetter), csvNum(s.Baseline.Value), csvNum(s.Baseline.Stderr), strconv.Itoa(s.Baseline.N),
					csvNum(s.Baseline.Value), "0", "0", "", "", m.ModelHash, "", "", "", "", "", ""})
			}
		}
		for i, c := range m.Configs {
			iv := c.Intervention.String()
			best := strconv.FormatBool(i == m.Best)
			pareto := strconv.FormatBool(m.Tradeoffs[i].Pareto)
			for _, s := range all {
				v := s.Configs[i]
				if !v.Present {
					continue
				}
				delta, base := math.NaN(), math.NaN()
				if s.Baseline.Present {
					base = s.Baseline.Value
					delta = v.Value - base
				}
				lo, hi, p, ph, test, sig := "", "", "", "", "", ""
				if d := v.Diff; d != nil {
					lo, hi, p, ph, test = csvNum(d.CILow), csvNum(d.CIHigh), csvNum(d.P), csvNum(d.PHolm), d.Test
					sig = strconv.FormatBool(d.Significant(lb.Holm))
				}
				cw.Write([]string{r, m.Model, m.Backend, m.DType, c.Label, iv, s.Role, s.Task, s.TaskCategory, s.Metric,
					strconv.FormatBool(s.HigherIsBetter), csvNum(v.Value), csvNum(v.Stderr), strconv.Itoa(v.N),
					csvNum(base), csvNum(delta), csvNum(s.Change(i)), best, pareto, m.ModelHash, lo, hi, p, ph, test, sig})
			}
			tr := m.Tradeoffs[i]
			for _, x := range []struct {
				name string
				v    float64
			}{{"memorization_change", tr.MemorizationChange}, {"ability_change", tr.AbilityChange}, {"significant_ability_change", tr.SignificantAbilityChange}} {
				cw.Write([]string{r, m.Model, m.Backend, m.DType, c.Label, iv, "summary", "", "", x.name,
					"", csvNum(x.v), "", "", "", "", "", best, pareto, m.ModelHash, "", "", "", "", "", ""})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// JSON shapes: NaN and missing values become null.
type jsonScore struct {
	Value  *float64        `json:"value"`
	Stderr *float64        `json:"stderr"`
	N      int             `json:"n"`
	RunID  string          `json:"run_id,omitempty"`
	Diff   *jsonComparison `json:"comparison,omitempty"` // paired comparison with the baseline
}

type jsonSeries struct {
	Task                   string       `json:"task"`
	TaskCategory           string       `json:"task_category"`
	Metric                 string       `json:"metric"`
	Role                   string       `json:"role"`
	HigherIsBetter         bool         `json:"higher_is_better"`
	LessMemorizedWhenLower *bool        `json:"less_memorized_when_lower,omitempty"`
	Baseline               *jsonScore   `json:"baseline"`
	Configurations         []*jsonScore `json:"configurations"` // aligned with the model's configurations
	Blocks                 []*jsonScore `json:"blocks"`         // aligned with the model's blocks (single-block configurations)
	RelativeChange         []*float64   `json:"relative_change"`
	Significant            []*bool      `json:"significant"` // per configuration; null: no paired test
}

type jsonConfig struct {
	Intervention string `json:"intervention"`
	Blocks       []int  `json:"blocks"`
	Label        string `json:"label"`
}

type jsonTradeoff struct {
	Block                    *int     `json:"block"` // null for a set of blocks
	Intervention             string   `json:"intervention"`
	MemorizationChange       *float64 `json:"memorization_change"`
	MemorizationSignificant  *bool    `json:"memorization_significant"`
	AbilityChange            *float64 `json:"ability_change"`
	SignificantAbilityChange *float64 `json:"significant_ability_change"`
	Pareto                   bool     `json:"pareto"`
	Best                     bool     `json:"best"`
}

type jsonModel struct {
	Rank           int            `json:"rank"`
	Model          string         `json:"model"`
	Names          []string       `json:"names"`
	Sources        []string       `json:"sources"`
	ModelHash      string         `json:"model_hash"`
	Label          string         `json:"label"`
	Backend        string         `json:"backend"`
	DType          string         `json:"dtype"`
	RunIDs         []string       `json:"run_ids"`
	Configurations []jsonConfig   `json:"configurations"`
	Blocks         []int          `json:"blocks"`
	Headline       string         `json:"headline_metric,omitempty"`
	Best           *string        `json:"best"`       // the best configuration's intervention
	BestBlock      *int           `json:"best_block"` // its block, when it is a single one
	Tradeoffs      []jsonTradeoff `json:"tradeoffs"`
	Memorization   []jsonSeries   `json:"memorization"`
	Ability        []jsonSeries   `json:"ability"`
	Other          []jsonSeries   `json:"other"`
}

type jsonLeaderboard struct {
	Intervention   string      `json:"intervention_kind"`
	MaxAbilityLoss float64     `json:"max_ability_loss"`
	Holm           bool        `json:"holm"`
	Models         []jsonModel `json:"models"`
	Notes          []string    `json:"notes"`
}

func jnum(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func jscore(s Score) *jsonScore {
	if !s.Present {
		return nil
	}
	js := &jsonScore{Value: jnum(s.Value), Stderr: jnum(s.Stderr), N: s.N, RunID: s.RunID}
	if s.Diff != nil {
		c := toJSONComparison(*s.Diff)
		js.Diff = &c
	}
	return js
}

func jsig(sig Significance) *bool {
	if sig == Untested {
		return nil
	}
	v := sig == Significant
	return &v
}

func (lb *Leaderboard) jseries(m *ModelBoard, ss []Series) []jsonSeries {
	out := []jsonSeries{}
	for _, s := range ss {
		js := jsonSeries{Task: s.Task, TaskCategory: s.TaskCategory, Metric: s.Metric, Role: s.Role, HigherIsBetter: s.HigherIsBetter,
			Baseline: jscore(s.Baseline), Configurations: []*jsonScore{}, Blocks: []*jsonScore{}, RelativeChange: []*float64{}, Significant: []*bool{}}
		if s.Role == RoleMemorization {
			v := s.LessMemorizedWhenLower
			js.LessMemorizedWhenLower = &v
		}
		for i, c := range s.Configs {
			js.Configurations = append(js.Configurations, jscore(c))
			if _, ok := m.Configs[i].Block(); ok {
				js.Blocks = append(js.Blocks, jscore(c))
			}
			js.RelativeChange = append(js.RelativeChange, jnum(s.Change(i)))
			js.Significant = append(js.Significant, jsig(lb.Significance(c)))
		}
		out = append(out, js)
	}
	return out
}

func (lb *Leaderboard) renderJSON(w io.Writer) error {
	out := jsonLeaderboard{Intervention: string(lb.Kind), MaxAbilityLoss: lb.MaxAbilityLoss, Holm: lb.Holm, Models: []jsonModel{}, Notes: lb.Notes}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	for i := range lb.Models {
		m := &lb.Models[i]
		jm := jsonModel{Rank: i + 1, Model: m.Model, Names: m.Names, ModelHash: m.ModelHash, Label: m.Label, Backend: m.Backend, DType: m.DType,
			RunIDs: m.RunIDs, Blocks: m.Blocks, Configurations: []jsonConfig{},
			Memorization: lb.jseries(m, m.Memorization), Ability: lb.jseries(m, m.Ability), Other: lb.jseries(m, m.Other), Tradeoffs: []jsonTradeoff{}}
		if jm.Blocks == nil {
			jm.Blocks = []int{}
		}
		if jm.Names == nil {
			jm.Names = []string{m.Model}
		}
		if jm.Sources = m.Sources; jm.Sources == nil {
			jm.Sources = []string{}
		}
		for _, c := range m.Configs {
			jm.Configurations = append(jm.Configurations, jsonConfig{Intervention: c.Intervention.String(), Blocks: c.Intervention.Blocks, Label: c.Label})
		}
		if m.Headline != nil {
			jm.Headline = m.Headline.Task + "/" + m.Headline.Metric
		}
		if m.Best >= 0 {
			c := m.Configs[m.Best]
			spec := c.Intervention.String()
			jm.Best = &spec
			if b, ok := c.Block(); ok {
				jm.BestBlock = &b
			}
		}
		for k, tr := range m.Tradeoffs {
			jt := jsonTradeoff{Intervention: tr.Config.Intervention.String(), MemorizationChange: jnum(tr.MemorizationChange),
				MemorizationSignificant: jsig(tr.MemorizationSignificance), AbilityChange: jnum(tr.AbilityChange),
				SignificantAbilityChange: jnum(tr.SignificantAbilityChange), Pareto: tr.Pareto, Best: k == m.Best}
			if b, ok := tr.Config.Block(); ok {
				jt.Block = &b
			}
			jm.Tradeoffs = append(jm.Tradeoffs, jt)
		}
		out.Models = append(out.Models, jm)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
