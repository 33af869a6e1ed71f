package results

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ReportOptions tunes WriteReport.
type ReportOptions struct {
	Leaderboard LeaderboardOptions
	Generated   time.Time // shown in the page; zero: not shown
	Version     string    // memscope version that made the page
}

// reportCell is one number of the page. Value is the exact number (for
// sorting and for tests: it round-trips to the float64 in the tables);
// Text is what is shown.
type reportCell struct {
	Text, Value, Title string
	Mark               bool
	// Where the number comes from (data-* attributes), for scores.
	Run, Model, Intervention, Task, Metric string
}

type reportColumn struct {
	Name, Title string
	Numeric     bool
}

type reportTable struct {
	ID      string
	Caption string
	Columns []reportColumn
	Pinned  [][]reportCell // rows kept on top when sorting (the baseline)
	Rows    [][]reportCell
}

type reportFigure struct {
	Name, Caption string
	Data          template.URL
}

type reportModel struct {
	Anchor, Label, Hash, Backend, DType string
	Sources, RunIDs                     []string
	Tables                              []reportTable
	Untested                            []string
}

type reportRun struct {
	Dir, RunID string
	Rows       [][2]string
	Figures    []reportFigure
}

type reportPage struct {
	Title, Subtitle string
	Summary         reportTable
	Legend          []string
	Models          []reportModel
	Runs            []reportRun
	Notes           []string
}

// WriteReport writes one self-contained HTML page (no network: styles,
// script and figures are inline) for the runs: the leaderboard with the
// paired intervals and significance marks, sortable columns, each run's
// figures and provenance.
func WriteReport(w io.Writer, runs []*Run, opt ReportOptions) error {
	lb, err := BuildLeaderboard(runs, opt.Leaderboard)
	if err != nil {
		return err
	}
	page := reportPage{Title: fmt.Sprintf("memscope leaderboard: %s", kindName(lb.Kind)), Notes: lb.Notes}
	var sub []string
	if opt.Version != "" {
		sub = append(sub, "memscope "+opt.Version)
	}
	if !opt.Generated.IsZero() {
		sub = append(sub, "made "+opt.Generated.UTC().Format("2006-01-02 15:04 UTC"))
	}
	sub = append(sub, plural(len(runs), "run"), plural(len(lb.Models), "model"))
	page.Subtitle = strings.Join(sub, " · ")
	page.Summary = reportSummary(lb)
	rule := "p < 0.05"
	if lb.Holm {
		rule = "Holm-adjusted p < 0.05 across the sweep"
	}
	page.Legend = []string{
		"Δ: relative change vs the baseline; [lo, hi]: its 95% paired bootstrap interval (the interval of the mean per-document difference over |baseline|).",
		SignificanceMark + ": significant by a paired test on the same documents (" + rule + "; exact McNemar for 0/1 metrics, paired bootstrap otherwise).",
		fmt.Sprintf("best: removes the most memorization (a significant change) while losing at most %s of ability, counting only significant ability changes.", fmtPct(-lb.MaxAbilityLoss)[1:]),
		"↑/↓: higher/lower is better for that task; memorization tables say which way is less memorized. Click a column heading to sort.",
	}
	for i := range lb.Models {
		page.Models = append(page.Models, reportModelOf(lb, &lb.Models[i], i))
	}
	for _, r := range runs {
		rr, err := reportRunOf(r, opt.Leaderboard)
		if err != nil {
			return err
		}
		page.Runs = append(page.Runs, rr)
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, page); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// exact renders a float so that it parses back to the same float64.
func exact(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func reportSummary(lb *Leaderboard) reportTable {
	h := lb.headlineName()
	t := reportTable{ID: "summary", Caption: "Models ranked by the memorization their best configuration removes",
		Columns: []reportColumn{{"rank", "#", true}, {"model", "model", false}, {"weights", "weights", false}, {"blocks", "blocks", false},
			{"baseline", h + " baseline", true}, {"best", "best", false}, {"at_best", h + " at best", true},
			{"memorization_change", "memorization Δ", true}, {"ability_change", "ability Δ ↑", true},
			{"significant_ability_change", "significant ability Δ ↑", true}, {"pareto", "Pareto-optimal", false}}}
	for i, m := range lb.Models {
		row := []reportCell{{Text: strconv.Itoa(i + 1), Value: strconv.Itoa(i + 1)}, {Text: m.Label}, {Text: ShortHash(m.ModelHash), Title: m.ModelHash},
			{Text: configList(m.Configs)}}
		base, best, there := reportCell{Text: "—"}, reportCell{Text: "none"}, reportCell{Text: "—"}
		dm, da, ds := reportCell{Text: "—"}, reportCell{Text: "—"}, reportCell{Text: "—"}
		if m.Headline != nil {
			base = scoreCell(m.Headline.Baseline, m.Headline.decimals())
		}
		if m.Best >= 0 {
			tr := m.Tradeoffs[m.Best]
			best = reportCell{Text: tr.Config.Label}
			there = scoreCell(m.Headline.Configs[m.Best], m.Headline.decimals())
			dm = reportCell{Text: fmtPct(tr.MemorizationChange), Value: exact(tr.MemorizationChange), Mark: tr.MemorizationSignificance == Significant}
			da = reportCell{Text: fmtPct(tr.AbilityChange), Value: exact(tr.AbilityChange)}
			ds = reportCell{Text: fmtPct(tr.SignificantAbilityChange), Value: exact(tr.SignificantAbilityChange)}
		}
		var pareto []string
		for _, tr := range m.Tradeoffs {
			if tr.Pareto {
				pareto = append(pareto, tr.Config.Label)
			}
		}
		t.Rows = append(t.Rows, append(row, base, best, there, dm, da, ds, reportCell{Text: strings.Join(pareto, "; ")}))
	}
	return t
}

func scoreCell(s Score, decimals int) reportCell {
	c := reportCell{Text: fmtNum(s, decimals)}
	if s.Present {
		c.Value = exact(s.Value)
		if !math.IsNaN(s.Stderr) {
			c.Title = fmt.Sprintf("± %s (standard error), n = %d", strconv.FormatFloat(s.Stderr, 'g', 3, 64), s.N)
		}
	}
	return c
}

// seriesCells are a configuration's value and change cells of one series.
func (lb *Leaderboard) seriesCells(s Series, i int) []reportCell {
	v := s.Configs[i]
	val := scoreCell(v, s.decimals())
	val.Run, val.Intervention, val.Task, val.Metric = v.RunID, "", s.Task, s.Metric
	ch := reportCell{Text: fmtPct(s.Change(i)), Value: exact(s.Change(i))}
	ch.Mark = lb.Significance(v) == Significant
	ci := reportCell{Text: "—"}
	if lo, hi := s.ChangeInterval(i); !math.IsNaN(lo) {
		ci = reportCell{Text: "[" + fmtPct(lo) + ", " + fmtPct(hi) + "]", Value: exact(lo)}
		d := v.Diff
		ch.Title = fmt.Sprintf("p = %s (%s), Holm p = %s, n = %d paired documents", fmtP(d.P), d.Test, fmtP(d.PHolm), d.N)
	}
	return []reportCell{val, ch, ci}
}

func reportModelOf(lb *Leaderboard, m *ModelBoard, i int) reportModel {
	rm := reportModel{Anchor: fmt.Sprintf("model-%d", i+1), Label: m.Label, Hash: m.ModelHash, Backend: m.Backend, DType: m.DType,
		Sources: m.Sources, RunIDs: m.RunIDs, Untested: m.untested()}
	build := func(id, caption string, ss []Series, tradeoffs bool) reportTable {
		t := reportTable{ID: id, Caption: caption, Columns: []reportColumn{{"blocks", "blocks", false}}}
		for _, s := range ss {
			name := s.Metric + s.arrow()
			if s.Role != RoleMemorization {
				name = s.Task + " " + name
			}
			t.Columns = append(t.Columns, reportColumn{s.Task + "/" + s.Metric, name, true},
				reportColumn{s.Task + "/" + s.Metric + "/change", "Δ", true}, reportColumn{s.Task + "/" + s.Metric + "/interval", "95% interval of Δ", true})
		}
		if tradeoffs {
			t.Columns = append(t.Columns, reportColumn{"ability_change", "ability Δ ↑", true},
				reportColumn{"significant_ability_change", "significant ability Δ ↑", true}, reportColumn{"note", "", false})
		}
		base := []reportCell{{Text: "baseline"}}
		for _, s := range ss {
			c := scoreCell(s.Baseline, s.decimals())
			c.Run, c.Model, c.Intervention, c.Task, c.Metric = s.Baseline.RunID, m.Model, "none", s.Task, s.Metric
			base = append(base, c, reportCell{}, reportCell{})
		}
		if tradeoffs {
			base = append(base, reportCell{}, reportCell{}, reportCell{})
		}
		t.Pinned = append(t.Pinned, base)
		for k, c := range m.Configs {
			row := []reportCell{{Text: c.Label}}
			for _, s := range ss {
				cells := lb.seriesCells(s, k)
				cells[0].Model, cells[0].Intervention = m.Model, c.Intervention.String()
				row = append(row, cells...)
			}
			if tradeoffs {
				tr := m.Tradeoffs[k]
				row = append(row, reportCell{Text: fmtPct(tr.AbilityChange), Value: exact(tr.AbilityChange)},
					reportCell{Text: fmtPct(tr.SignificantAbilityChange), Value: exact(tr.SignificantAbilityChange)},
					reportCell{Text: m.note(k)})
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
	if len(m.Memorization) > 0 {
		rm.Tables = append(rm.Tables, build(rm.Anchor+"-memorization", memorizationHeading(m), m.Memorization, true))
	}
	if len(m.Ability) > 0 {
		rm.Tables = append(rm.Tables, build(rm.Anchor+"-ability", "Ability: each task's main metric", m.Ability, false))
	}
	return rm
}

// reportRunOf lists a run's provenance and draws its figures.
func reportRunOf(r *Run, opt LeaderboardOptions) (reportRun, error) {
	in := r.Info
	rr := reportRun{Dir: r.Dir, RunID: in.RunID}
	add := func(k, v string) {
		if v != "" {
			rr.Rows = append(rr.Rows, [2]string{k, v})
		}
	}
	add("run", in.RunID)
	add("folder", r.Dir)
	add("memscope", strings.TrimSpace(in.HarnessVersion+" "+in.GitCommit))
	add("machine", in.Machine)
	if !in.Started.IsZero() {
		add("started", in.Started.UTC().Format(time.RFC3339))
	}
	if !in.Finished.IsZero() {
		add("finished", in.Finished.UTC().Format(time.RFC3339))
	}
	if in.BatchSize > 0 {
		add("batch size", strconv.Itoa(in.BatchSize))
	}
	add("seed", strconv.FormatInt(in.Seed, 10))
	if in.Limit > 0 {
		add("limit", strconv.Itoa(in.Limit))
	}
	add("docs", in.Docs)
	srcs := ModelSources(in)
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add("model "+n, srcs[n].Describe())
	}
	for _, k := range sortedKeys(in.TaskConfigHashes) {
		add("task config "+k, in.TaskConfigHashes[k])
	}
	for _, k := range sortedKeys(in.Extra) {
		if k != ExtraModels {
			add(k, in.Extra[k])
		}
	}
	tmp, err := os.MkdirTemp("", "memscope-report-")
	if err != nil {
		return rr, err
	}
	defer os.RemoveAll(tmp)
	paths, err := Plot(r, tmp, opt)
	if err != nil {
		return rr, nil // a run without figures still has a leaderboard and provenance
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return rr, err
		}
		name := filepath.Base(p)
		rr.Figures = append(rr.Figures, reportFigure{Name: name, Caption: figureCaption(name),
			Data: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))})
	}
	return rr, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// figureCaption says what a figure file shows.
func figureCaption(name string) string {
	switch {
	case name == "per_block.png":
		return "Every metric against the bypassed block; dashed: the baseline; shaded: 95% intervals."
	case name == "accuracy_drop_by_category.png":
		return "Relative decrease of accuracy per block, language vs reasoning tasks, with 95% intervals."
	case strings.HasPrefix(name, "memorization_vs_ability_"):
		return "Memorization against the mean ability change, one point per configuration, 95% error bars on both axes."
	case strings.HasPrefix(name, "memorization_vs_"):
		return "Memorization against " + strings.TrimSuffix(strings.TrimPrefix(name, "memorization_vs_"), ".png") + ", one point per configuration, 95% error bars on both axes."
	}
	return name
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 2em auto; max-width: 1400px; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .1em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub, .meta { color: #666; } .meta { font-size: .92em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { padding: .25em .6em; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f6f6f6; position: sticky; top: 0; cursor: pointer; user-select: none; text-align: left; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
td.num { text-align: right; } tr.pinned td { background: #fafafa; font-weight: 600; }
.mark { color: #b00; font-weight: 700; } td.sig { background: #fff3f0; }
.wrap { overflow-x: auto; } figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .92em; } ul.legend li, ul.notes li { margin: .2em 0; }
table.prov td:first-child { color: #555; } table.prov td { white-space: normal; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{define "table"}}<div class="wrap"><table class="sortable" id="{{.ID}}">
<caption>{{.Caption}}</caption>
<thead><tr>{{range $i, $c := .Columns}}<th data-col="{{$i}}" data-key="{{$c.Name}}"{{if $c.Numeric}} data-numeric="1"{{end}}>{{$c.Title}}</th>{{end}}</tr></thead>
<tbody>{{range .Pinned}}<tr class="pinned">{{template "cells" .}}</tr>{{end}}{{range .Rows}}<tr>{{template "cells" .}}</tr>{{end}}</tbody>
</table></div>{{end}}
{{define "cells"}}{{range .}}<td{{if .Value}} class="num{{if .Mark}} sig{{end}}" data-value="{{.Value}}"{{end}}{{if .Title}} title="{{.Title}}"{{end}}{{if .Metric}} data-run="{{.Run}}" data-model="{{.Model}}" data-intervention="{{.Intervention}}" data-task="{{.Task}}" data-metric="{{.Metric}}"{{end}}>{{.Text}}{{if .Mark}}<span class="mark">*</span>{{end}}</td>{{end}}{{end}}
{{template "table" .Summary}}
<ul class="legend">{{range .Legend}}<li>{{.}}</li>{{end}}</ul>
{{range .Models}}<section id="{{.Anchor}}">
<h2>{{.Label}}</h2>
<p class="meta">weights {{.Hash}} · {{.Backend}}, {{.DType}}{{range .Sources}} · {{.}}{{end}} · run{{if gt (len .RunIDs) 1}}s{{end}} {{range $i, $r := .RunIDs}}{{if $i}}, {{end}}{{$r}}{{end}}</p>
{{range .Tables}}{{template "table" .}}{{end}}
{{if .Untested}}<p class="meta">No paired test (no per-document scores), so never marked: {{range $i, $u := .Untested}}{{if $i}}, {{end}}{{$u}}{{end}}</p>{{end}}
</section>{{end}}
{{range .Runs}}<section class="run" id="run-{{.RunID}}">
<h2>Run {{.RunID}}</h2>
<table class="prov">{{range .Rows}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
{{range .Figures}}<figure><img src="{{.Data}}" alt="{{.Name}}"><figcaption>{{.Name}}: {{.Caption}}</figcaption></figure>{{end}}
</section>{{end}}
{{if .Notes}}<h2>Notes</h2><ul class="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<script>
"use strict";
// Click a heading to sort its table by that column (numbers by their exact
// value, text alphabetically); the baseline row stays on top.
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = Number(th.dataset.col);
    var numeric = th.dataset.numeric === "1";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return !r.classList.contains("pinned"); });
    function key(r) {
      var c = r.cells[col];
      if (!c) return numeric ? NaN : "";
      if (numeric) { return c.dataset.value === undefined || c.dataset.value === "" ? NaN : Number(c.dataset.value); }
      return c.textContent;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (numeric) {
        if (isNaN(x) && isNaN(y)) return 0;
        if (isNaN(x)) return 1;
        if (isNaN(y)) return -1;
        return dir * (x - y);
      }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body>
</html>
`))
