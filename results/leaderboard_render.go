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
	for _, v := range append([]Score{s.Baseline}, s.Blocks...) {
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

func blockList(blocks []int) string {
	if len(blocks) == 0 {
		return "—"
	}
	return intervention.New(intervention.AttnShortCircuit, blocks...).BlocksString()
}

// arrow points the way that is better: for memorization metrics, the way
// of less memorization; for ability metrics, the way of better ability.
func (s Series) arrow() string {
	if s.Role == RoleMemorization {
		if s.LessMemorizedWhenLower {
			return "↓"
		}
		return "↑"
	}
	if s.HigherIsBetter {
		return "↑"
	}
	return "↓"
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

func (lb *Leaderboard) summaryTable() *textTable {
	h := lb.headlineName()
	t := &textTable{
		header: []string{"#", "model", "blocks", h + " baseline", "best block", h + " at best", "memorization Δ ↓", "ability Δ ↑", "Pareto-optimal blocks"},
		right:  []bool{true, false, false, true, true, true, true, true, false},
	}
	for i, m := range lb.Models {
		base, best, there, dm, da := "—", "none", "—", "—", "—"
		if m.Headline != nil {
			base = fmtNum(m.Headline.Baseline, m.Headline.decimals())
		}
		if m.Best >= 0 {
			tr := m.Tradeoffs[m.Best]
			best = strconv.Itoa(tr.Block)
			there = fmtNum(m.Headline.Blocks[m.Best], m.Headline.decimals())
			dm, da = fmtPct(tr.MemorizationChange), fmtPct(tr.AbilityChange)
		}
		var pareto []int
		for _, tr := range m.Tradeoffs {
			if tr.Pareto {
				pareto = append(pareto, tr.Block)
			}
		}
		t.add(strconv.Itoa(i+1), m.Label, blockList(m.Blocks), base, best, there, dm, da, blockList(pareto))
	}
	return t
}

// memorizationTable: the memorization metrics and the trade-off per block.
func (m *ModelBoard) memorizationTable() *textTable {
	t := &textTable{header: []string{"block"}, right: []bool{false}}
	for _, s := range m.Memorization {
		t.header = append(t.header, s.Metric+" "+s.arrow(), "Δ")
		t.right = append(t.right, true, true)
	}
	t.header = append(t.header, "ability Δ ↑", "")
	t.right = append(t.right, true, false)
	row := []string{"baseline"}
	for _, s := range m.Memorization {
		row = append(row, fmtNum(s.Baseline, s.decimals()), "")
	}
	t.add(append(row, "", "")...)
	for i, b := range m.Blocks {
		row := []string{strconv.Itoa(b)}
		for _, s := range m.Memorization {
			row = append(row, fmtNum(s.Blocks[i], s.decimals()), fmtPct(s.Change(i)))
		}
		tr := m.Tradeoffs[i]
		var note []string
		if i == m.Best {
			note = append(note, "◀ best")
		}
		if tr.Pareto {
			note = append(note, "Pareto")
		}
		t.add(append(row, fmtPct(tr.AbilityChange), strings.Join(note, ", "))...)
	}
	return t
}

// abilityTable: each task's main metric per block.
func (m *ModelBoard) abilityTable() *textTable {
	t := &textTable{header: []string{"block"}, right: []bool{false}}
	for _, s := range m.Ability {
		t.header = append(t.header, s.Task+" "+s.Metric+" "+s.arrow(), "Δ")
		t.right = append(t.right, true, true)
	}
	row := []string{"baseline"}
	for _, s := range m.Ability {
		row = append(row, fmtNum(s.Baseline, s.decimals()), "")
	}
	t.add(row...)
	for i, b := range m.Blocks {
		row := []string{strconv.Itoa(b)}
		for _, s := range m.Ability {
			row = append(row, fmtNum(s.Blocks[i], s.decimals()), fmtPct(s.Change(i)))
		}
		t.add(row...)
	}
	return t
}

func (lb *Leaderboard) renderDoc(w io.Writer, md bool) error {
	var b strings.Builder
	pct := fmtPct(-lb.MaxAbilityLoss)[1:]
	models := "1 model"
	if len(lb.Models) != 1 {
		models = fmt.Sprintf("%d models", len(lb.Models))
	}
	title := fmt.Sprintf("memscope leaderboard: %s, one block at a time, %s", kindName(lb.Kind), models)
	abilityOf := "each task's main metric"
	if len(lb.AbilityTasks) > 0 {
		abilityOf = "the main metric of " + strings.Join(lb.AbilityTasks, ", ")
	}
	legend := []string{
		"memorization Δ: relative change of the memorization score vs the baseline (negative = less memorized).",
		"ability Δ: mean relative change of " + abilityOf + " vs the baseline, signed so that negative = worse.",
		"best block: removes the most memorization while losing at most " + pct + " ability; Pareto-optimal: no other block removes more memorization at less ability loss.",
		"Arrows point the better way: less memorization for memorization metrics, better scores for ability metrics.",
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
	for _, m := range lb.Models {
		runs := "run "
		if len(m.RunIDs) > 1 {
			runs = "runs "
		}
		head := fmt.Sprintf("%s (%s, %s; %s%s)", m.Model, m.Backend, m.DType, runs, strings.Join(m.RunIDs, ", "))
		if md {
			fmt.Fprintf(&b, "\n## %s\n\n", head)
		} else {
			fmt.Fprintf(&b, "\n%s\n\n", head)
		}
		if len(m.Blocks) == 0 {
			b.WriteString(indentFor(md) + "no single-block results\n")
			continue
		}
		tables := []struct {
			name string
			t    *textTable
		}{
			{"Memorization (memorization task) and ability cost", m.memorizationTable()},
			{"Ability: each task's main metric (Δ = relative change vs baseline)", m.abilityTable()},
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
	cw.Write([]string{"rank", "model", "backend", "dtype", "block", "intervention", "role", "task", "task_category", "metric",
		"higher_is_better", "value", "stderr", "n", "baseline", "delta", "relative_delta", "best", "pareto"})
	for rank, m := range lb.Models {
		r := strconv.Itoa(rank + 1)
		all := append(append(append([]Series{}, m.Memorization...), m.Ability...), m.Other...)
		for _, s := range all {
			if s.Baseline.Present {
				cw.Write([]string{r, m.Model, m.Backend, m.DType, "", "none", s.Role, s.Task, s.TaskCategory, s.Metric,
					strconv.FormatBool(s.HigherIsBetter), csvNum(s.Baseline.Value), csvNum(s.Baseline.Stderr), strconv.Itoa(s.Baseline.N),
					csvNum(s.Baseline.Value), "0", "0", "", ""})
			}
		}
		for i, b := range m.Blocks {
			iv := intervention.New(lb.Kind, b).String()
			best := strconv.FormatBool(i == m.Best)
			pareto := strconv.FormatBool(m.Tradeoffs[i].Pareto)
			for _, s := range all {
				v := s.Blocks[i]
				if !v.Present {
					continue
				}
				delta, base := math.NaN(), math.NaN()
				if s.Baseline.Present {
					base = s.Baseline.Value
					delta = v.Value - base
				}
				cw.Write([]string{r, m.Model, m.Backend, m.DType, strconv.Itoa(b), iv, s.Role, s.Task, s.TaskCategory, s.Metric,
					strconv.FormatBool(s.HigherIsBetter), csvNum(v.Value), csvNum(v.Stderr), strconv.Itoa(v.N),
					csvNum(base), csvNum(delta), csvNum(s.Change(i)), best, pareto})
			}
			tr := m.Tradeoffs[i]
			for _, x := range []struct {
				name string
				v    float64
			}{{"memorization_change", tr.MemorizationChange}, {"ability_change", tr.AbilityChange}} {
				cw.Write([]string{r, m.Model, m.Backend, m.DType, strconv.Itoa(b), iv, "summary", "", "", x.name,
					"", csvNum(x.v), "", "", "", "", "", best, pareto})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// JSON shapes: NaN and missing values become null.
type jsonScore struct {
	Value  *float64 `json:"value"`
	Stderr *float64 `json:"stderr"`
	N      int      `json:"n"`
	RunID  string   `json:"run_id,omitempty"`
}

type jsonSeries struct {
	Task                   string       `json:"task"`
	TaskCategory           string       `json:"task_category"`
	Metric                 string       `json:"metric"`
	Role                   string       `json:"role"`
	HigherIsBetter         bool         `json:"higher_is_better"`
	LessMemorizedWhenLower *bool        `json:"less_memorized_when_lower,omitempty"`
	Baseline               *jsonScore   `json:"baseline"`
	Blocks                 []*jsonScore `json:"blocks"`
	RelativeChange         []*float64   `json:"relative_change"`
}

type jsonTradeoff struct {
	Block              int      `json:"block"`
	MemorizationChange *float64 `json:"memorization_change"`
	AbilityChange      *float64 `json:"ability_change"`
	Pareto             bool     `json:"pareto"`
	Best               bool     `json:"best"`
}

type jsonModel struct {
	Rank         int            `json:"rank"`
	Model        string         `json:"model"`
	Backend      string         `json:"backend"`
	DType        string         `json:"dtype"`
	RunIDs       []string       `json:"run_ids"`
	Blocks       []int          `json:"blocks"`
	Headline     string         `json:"headline_metric,omitempty"`
	BestBlock    *int           `json:"best_block"`
	Tradeoffs    []jsonTradeoff `json:"tradeoffs"`
	Memorization []jsonSeries   `json:"memorization"`
	Ability      []jsonSeries   `json:"ability"`
	Other        []jsonSeries   `json:"other"`
}

type jsonLeaderboard struct {
	Intervention   string      `json:"intervention_kind"`
	MaxAbilityLoss float64     `json:"max_ability_loss"`
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
	return &jsonScore{Value: jnum(s.Value), Stderr: jnum(s.Stderr), N: s.N, RunID: s.RunID}
}

func jseries(ss []Series) []jsonSeries {
	out := []jsonSeries{}
	for _, s := range ss {
		js := jsonSeries{Task: s.Task, TaskCategory: s.TaskCategory, Metric: s.Metric, Role: s.Role, HigherIsBetter: s.HigherIsBetter, Baseline: jscore(s.Baseline)}
		if s.Role == RoleMemorization {
			v := s.LessMemorizedWhenLower
			js.LessMemorizedWhenLower = &v
		}
		for i, b := range s.Blocks {
			js.Blocks = append(js.Blocks, jscore(b))
			js.RelativeChange = append(js.RelativeChange, jnum(s.Change(i)))
		}
		out = append(out, js)
	}
	return out
}

func (lb *Leaderboard) renderJSON(w io.Writer) error {
	out := jsonLeaderboard{Intervention: string(lb.Kind), MaxAbilityLoss: lb.MaxAbilityLoss, Models: []jsonModel{}, Notes: lb.Notes}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	for i, m := range lb.Models {
		jm := jsonModel{Rank: i + 1, Model: m.Model, Backend: m.Backend, DType: m.DType, RunIDs: m.RunIDs, Blocks: m.Blocks,
			Memorization: jseries(m.Memorization), Ability: jseries(m.Ability), Other: jseries(m.Other), Tradeoffs: []jsonTradeoff{}}
		if jm.Blocks == nil {
			jm.Blocks = []int{}
		}
		if m.Headline != nil {
			jm.Headline = m.Headline.Task + "/" + m.Headline.Metric
		}
		if m.Best >= 0 {
			b := m.Blocks[m.Best]
			jm.BestBlock = &b
		}
		for k, tr := range m.Tradeoffs {
			jm.Tradeoffs = append(jm.Tradeoffs, jsonTradeoff{Block: tr.Block, MemorizationChange: jnum(tr.MemorizationChange),
				AbilityChange: jnum(tr.AbilityChange), Pareto: tr.Pareto, Best: k == m.Best})
		}
		out.Models = append(out.Models, jm)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
