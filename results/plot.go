package results

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// FigureDPI is the resolution of the PNG figures.
const FigureDPI = 150

// Plot draws the run's figures as PNG files in outDir (created if
// missing) and returns their paths:
//
//   - memorization_vs_<task>_<model>.png: the paper's main figure, one per
//     ability task: each memorization metric (exact match, token accuracy,
//     completion entropy; one panel each) against the task's main metric,
//     one point per short-circuited block coloured by block (sets of
//     blocks as grey diamonds), the baseline marked, every point with 95%
//     error bars on both axes; memorization_vs_ability_<model>.png uses
//     the mean relative change over all ability tasks instead;
//   - per_block.png: every metric against the short-circuited block, one
//     line per model with its 95% band, each model's baseline as a dashed
//     line with its band;
//   - accuracy_drop_by_category.png: the mean relative drop of accuracy per
//     block, language tasks vs reasoning tasks, one panel per model, with
//     95% error bars.
//
// Error bars of a value are ±1.96 standard errors (the metrics table's
// stderr); those of a relative change come from the paired comparison
// with the baseline (its bootstrap interval over |baseline|), combined
// over tasks as independent (root of the summed squares, over their
// number).
//
// Figures the run has no data for are skipped; a run with no baseline or
// no single-block short-circuit results is an error.
//
// opt is the leaderboard's: AbilityTasks chooses the tasks of the mean
// ability change.
func Plot(run *Run, outDir string, opt LeaderboardOptions) ([]string, error) {
	lb, err := BuildLeaderboard([]*Run{run}, opt)
	if err != nil {
		return nil, err
	}
	verb := kindVerb(lb.Kind)
	var models []ModelBoard
	for _, m := range lb.Models {
		if len(m.Configs) > 0 {
			models = append(models, coreMemorizationOnly(m))
		}
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("nothing to plot in %s: the run has no results with blocks %s (run memscope run with --interventions attn-sc:each)", run.Dir, verb)
	}
	var paths []string
	save := func(name string, w, h vg.Length, drawFn func(dc draw.Canvas) error) error {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return fmt.Errorf("create figure directory: %w", err)
		}
		path := filepath.Join(outDir, name)
		if err := saveFigure(path, w, h, drawFn); err != nil {
			return fmt.Errorf("figure %s: %w", name, err)
		}
		paths = append(paths, path)
		return nil
	}
	slugs := modelSlugs(models)
	for mi, m := range models {
		if len(m.Memorization) == 0 {
			continue
		}
		for _, a := range m.Ability {
			if !a.Baseline.Present {
				continue
			}
			xs := make([]float64, len(m.Configs))
			xerr := make([]float64, len(m.Configs))
			varies := false
			for i := range m.Configs {
				xs[i] = nan(a.Configs[i])
				xerr[i] = halfWidth(a.Configs[i])
				varies = varies || xs[i] != a.Baseline.Value
			}
			if !varies {
				continue // e.g. a benchmark the model always fails: nothing to see
			}
			ax := abilityAxis{
				label:       fmt.Sprintf("%s %s (%s is better)", a.Task, a.Metric, betterWord(a.HigherIsBetter)),
				short:       a.Task + " " + a.Metric,
				xs:          xs,
				xerr:        xerr,
				baseline:    a.Baseline.Value,
				baselineErr: halfWidth(a.Baseline),
			}
			name := fmt.Sprintf("memorization_vs_%s_%s.png", slug(a.Task), slugs[mi])
			w, h := memFigureSize(len(m.Memorization))
			if err := save(name, w, h, func(dc draw.Canvas) error { return drawMemorizationFigure(dc, m, ax, verb) }); err != nil {
				return paths, err
			}
		}
		var tasks []string
		for _, a := range m.Ability {
			if len(opt.AbilityTasks) == 0 || slices.Contains(opt.AbilityTasks, a.Task) {
				tasks = append(tasks, a.Task)
			}
		}
		if len(tasks) > 1 {
			xs := make([]float64, len(m.Configs))
			xerr := make([]float64, len(m.Configs))
			for i, t := range m.Tradeoffs {
				xs[i] = 100 * t.AbilityChange
				xerr[i] = 100 * m.abilityChangeHalfWidth(i, opt.AbilityTasks)
			}
			label := fmt.Sprintf("mean ability change over %d tasks, %% (higher is better)", len(tasks))
			ax := abilityAxis{
				label:    label,
				short:    "mean ability change over " + strings.Join(tasks, ", "),
				xs:       xs,
				xerr:     xerr,
				baseline: 0,
			}
			w, h := memFigureSize(len(m.Memorization))
			if err := save(fmt.Sprintf("memorization_vs_ability_%s.png", slugs[mi]), w, h, func(dc draw.Canvas) error { return drawMemorizationFigure(dc, m, ax, verb) }); err != nil {
				return paths, err
			}
		}
	}
	var single []ModelBoard
	for _, m := range models {
		if sm := singleBlocksOnly(m); len(sm.Configs) > 0 {
			single = append(single, sm)
		}
	}
	panels := perBlockPanels(single)
	if len(panels) > 0 {
		cols := min(3, len(panels))
		rows := (len(panels) + cols - 1) / cols
		w := vg.Length(cols)*4.6*vg.Inch + 0.2*vg.Inch
		h := vg.Length(rows)*3.5*vg.Inch + 0.6*vg.Inch
		if err := save("per_block.png", w, h, func(dc draw.Canvas) error { return drawPerBlock(dc, single, panels, cols, rows, verb) }); err != nil {
			return paths, err
		}
	}
	var withCats []ModelBoard
	for _, m := range single {
		if len(categoryDrops(m).cats) > 0 {
			withCats = append(withCats, m)
		}
	}
	if len(withCats) > 0 {
		maxBlocks := 0
		for _, m := range withCats {
			maxBlocks = max(maxBlocks, len(m.Blocks))
		}
		w := max(8*vg.Inch, vg.Length(maxBlocks)*0.42*vg.Inch+2.5*vg.Inch)
		h := vg.Length(len(withCats))*3.6*vg.Inch + 0.6*vg.Inch
		if err := save("accuracy_drop_by_category.png", w, h, func(dc draw.Canvas) error { return drawCategoryDrops(dc, withCats, verb) }); err != nil {
			return paths, err
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("nothing to plot in %s: the figures need memorization and ability scores with a baseline, or single blocks %s (memscope run --interventions attn-sc:each)", run.Dir, verb)
	}
	return paths, nil
}

// coreMemorizationOnly keeps the paper's three memorization metrics for
// the figures; group breakdowns (planted vs control, …) stay in the tables.
func coreMemorizationOnly(m ModelBoard) ModelBoard {
	var core []Series
	for _, s := range m.Memorization {
		if slices.Contains(CoreMemorizationMetrics, s.Metric) {
			core = append(core, s)
		}
	}
	if len(core) > 0 {
		m.Memorization = core
	}
	return m
}

func betterWord(higher bool) string {
	if higher {
		return "higher"
	}
	return "lower"
}

func nan(s Score) float64 {
	if !s.Present {
		return math.NaN()
	}
	return s.Value
}

var slugRe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func slug(s string) string {
	s = strings.Trim(slugRe.ReplaceAllString(s, "_"), "_.")
	if s == "" {
		return "x"
	}
	return s
}

// modelSlugs names each model in file names, adding backend and dtype
// when a model appears more than once.
func modelSlugs(models []ModelBoard) []string {
	count := map[string]int{}
	for _, m := range models {
		count[slug(m.Model)]++
	}
	out := make([]string, len(models))
	for i, m := range models {
		out[i] = slug(m.Model)
		if count[out[i]] > 1 {
			out[i] = slug(m.Model + "_" + m.Backend + "_" + m.DType)
		}
	}
	return out
}

// saveFigure renders a figure to a PNG file atomically.
func saveFigure(path string, w, h vg.Length, drawFn func(dc draw.Canvas) error) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(FigureDPI), vgimg.UseBackgroundColor(color.White))
	if err := drawFn(draw.New(img)); err != nil {
		return err
	}
	return atomicfile.Write(path, 0o644, func(out io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(out)
		return err
	})
}

// ---------------------------------------------------------------- styling

var (
	colorText  = color.RGBA{0x22, 0x22, 0x22, 0xff}
	colorGrid  = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	colorMuted = color.RGBA{0x55, 0x55, 0x55, 0xff}
	// modelColors is the Okabe-Ito palette (colour-blind safe).
	modelColors = []color.Color{
		color.RGBA{0x00, 0x72, 0xb2, 0xff}, color.RGBA{0xd5, 0x5e, 0x00, 0xff}, color.RGBA{0x00, 0x9e, 0x73, 0xff},
		color.RGBA{0xcc, 0x79, 0xa7, 0xff}, color.RGBA{0xe6, 0x9f, 0x00, 0xff}, color.RGBA{0x56, 0xb4, 0xe9, 0xff},
		color.RGBA{0x00, 0x00, 0x00, 0xff}, color.RGBA{0xf0, 0xe4, 0x42, 0xff},
	}
	categoryColors = map[string]color.Color{
		plugins.CategoryLanguage:  color.RGBA{0x00, 0x72, 0xb2, 0xff},
		plugins.CategoryReasoning: color.RGBA{0xd5, 0x5e, 0x00, 0xff},
	}
)

// viridis anchors (matplotlib's viridis, sampled), used up to 0.92 so the
// last blocks stay visible on white.
var viridis = []color.RGBA{
	{0x44, 0x01, 0x54, 0xff}, {0x48, 0x28, 0x78, 0xff}, {0x3e, 0x4a, 0x89, 0xff},
	{0x31, 0x68, 0x8e, 0xff}, {0x26, 0x82, 0x8e, 0xff}, {0x1f, 0x9e, 0x89, 0xff},
	{0x35, 0xb7, 0x79, 0xff}, {0x6d, 0xcd, 0x59, 0xff}, {0xfd, 0xe7, 0x25, 0xff},
}

// blockColor colours block b of blocks lo..hi.
func blockColor(b, lo, hi int) color.Color {
	t := 0.0
	if hi > lo {
		t = float64(b-lo) / float64(hi-lo)
	}
	t *= 0.92
	x := t * float64(len(viridis)-1)
	i := min(int(x), len(viridis)-2)
	f := x - float64(i)
	a, c := viridis[i], viridis[i+1]
	mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + f*(float64(q)-float64(p)))) }
	return color.RGBA{mix(a.R, c.R), mix(a.G, c.G), mix(a.B, c.B), 0xff}
}

// figFont is the typeface of every figure (gonum's default is a serif).
var figFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func textStyle(size vg.Length) text.Style {
	return text.Style{Color: colorText, Font: font.From(figFont, size), Handler: plot.DefaultTextHandler}
}

// restyle changes a text style's font size and colour, keeping its
// alignment.
func restyle(st *text.Style, size vg.Length, c color.Color) {
	st.Font = font.From(figFont, size)
	st.Color = c
}

// newPanel returns a plot with the house style.
func newPanel(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	restyle(&p.Title.TextStyle, 11, colorText)
	p.Title.Padding = 6
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		restyle(&ax.Label.TextStyle, 10, colorText)
		restyle(&ax.Tick.Label, 9, colorMuted)
		ax.Color = colorMuted
		ax.Tick.Color = colorMuted
		ax.Padding = 4
	}
	restyle(&p.Legend.TextStyle, 9, colorText)
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	p.Legend.Padding = 2
	p.Legend.ThumbnailWidth = 18
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = colorGrid, colorGrid
	g.Vertical.Width, g.Horizontal.Width = 0.5, 0.5
	p.Add(g)
	return p
}

// niceTicks puts 4 to 7 labelled ticks at round values (steps of 1, 2,
// 2.5 or 5 times a power of ten), labelled in the fewest digits, with
// unlabelled minor ticks between them.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, f := range []float64{1, 2, 2.5, 5} {
		if f*mag >= raw {
			step = f * mag
			break
		}
	}
	minor := step / 5
	if f := step / mag; f == 2.5 || f == 5 {
		minor = step / 5
	} else if f == 2 {
		minor = step / 4
	}
	var ts []plot.Tick
	for k := math.Ceil(lo/minor - 1e-9); k*minor <= hi+1e-9*step; k++ {
		v := k * minor
		label := ""
		if r := math.Abs(v/step - math.Round(v/step)); r < 1e-6 {
			v = math.Round(v/step) * step
			if v == 0 {
				v = 0 // no "-0"
			}
			label = strconv.FormatFloat(v, 'f', max(0, -int(math.Floor(math.Log10(step)+1e-9))+decimalsOf(step/mag)), 64)
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

// decimalsOf is the number of decimals the mantissa of a tick step needs.
func decimalsOf(f float64) int {
	if f == 2.5 {
		return 1
	}
	return 0
}

// drawTitle writes a figure title centred at the top of dc and returns the
// canvas below it.
func drawTitle(dc draw.Canvas, title, subtitle string) draw.Canvas {
	avail := dc.Max.X - dc.Min.X - 16
	fit := func(size vg.Length, txt string) text.Style {
		st := textStyle(size)
		for size > 7 && st.Width(txt) > avail {
			size -= 0.5
			st = textStyle(size)
		}
		st.XAlign, st.YAlign = draw.XCenter, draw.YTop
		return st
	}
	st := fit(13, title)
	cx := (dc.Min.X + dc.Max.X) / 2
	y := dc.Max.Y - 6
	dc.FillText(st, vg.Point{X: cx, Y: y}, title)
	y -= st.Height(title) + 3
	if subtitle != "" {
		ss := fit(9.5, subtitle)
		ss.Color = colorMuted
		dc.FillText(ss, vg.Point{X: cx, Y: y}, subtitle)
		y -= ss.Height(subtitle) + 3
	}
	out := dc
	out.Max.Y = y - 4
	return out
}

// padded shrinks a canvas by the given margins.
func padded(c draw.Canvas, top, right, bottom, left vg.Length) draw.Canvas {
	c.Min.X += left
	c.Max.X -= right
	c.Min.Y += bottom
	c.Max.Y -= top
	return c
}

// expandRange widens an axis range by a fraction of its span so that
// points and labels stay off the frame.
func expandRange(a *plot.Axis, frac float64) {
	span := a.Max - a.Min
	if span <= 0 || math.IsInf(span, 0) || math.IsNaN(span) {
		span = math.Max(math.Abs(a.Max), 1) * 0.1
	}
	a.Min -= span * frac
	a.Max += span * frac
}

// ---------------------------------------------------- memorization figure

type abilityAxis struct {
	label, short string
	xs           []float64 // per configuration, aligned with the model's Configs
	xerr         []float64 // half-widths of the 95% intervals of xs (NaN: none)
	baseline     float64
	baselineErr  float64
}

// z95 is the normal quantile of a two-sided 95% interval.
const z95 = 1.959963984540054

// halfWidth is the half-width of a score's 95% interval from its standard
// error; NaN without one.
func halfWidth(s Score) float64 {
	if !s.Present || math.IsNaN(s.Stderr) || math.IsInf(s.Stderr, 0) {
		return math.NaN()
	}
	return z95 * s.Stderr
}

// changeHalfWidth is the half-width of the 95% interval of a relative
// change: from the paired comparison when there is one (half its width:
// the bootstrap interval need not be symmetric), else from both standard
// errors as if independent.
func changeHalfWidth(s Series, i int) float64 {
	if lo, hi := s.ChangeInterval(i); !math.IsNaN(lo) {
		return (hi - lo) / 2
	}
	v := s.Configs[i]
	if !v.Present || !s.Baseline.Present || s.Baseline.Value == 0 {
		return math.NaN()
	}
	return z95 * math.Hypot(v.Stderr, s.Baseline.Stderr) / math.Abs(s.Baseline.Value)
}

// abilityChangeHalfWidth is the half-width of the 95% interval of the mean
// ability change of configuration i: the tasks' half-widths combined as
// independent, sqrt(Σ h²)/k.
func (m *ModelBoard) abilityChangeHalfWidth(i int, tasks []string) float64 {
	ss, k := 0.0, 0
	for _, s := range m.Ability {
		if len(tasks) > 0 && !slices.Contains(tasks, s.Task) {
			continue
		}
		if math.IsNaN(s.goodChange(i)) {
			continue
		}
		h := changeHalfWidth(s, i)
		if math.IsNaN(h) {
			return math.NaN()
		}
		ss += h * h
		k++
	}
	if k == 0 {
		return math.NaN()
	}
	return math.Sqrt(ss) / float64(k)
}

// singleBlocksOnly keeps the configurations of one block (the block axis
// of the per-block and category figures has no place for sets of blocks).
func singleBlocksOnly(m ModelBoard) ModelBoard {
	var keep []int
	for i, c := range m.Configs {
		if _, ok := c.Block(); ok {
			keep = append(keep, i)
		}
	}
	pick := func(ss []Series) []Series {
		out := make([]Series, len(ss))
		for k, s := range ss {
			s.Configs = make([]Score, len(keep))
			for j, i := range keep {
				s.Configs[j] = ss[k].Configs[i]
			}
			out[k] = s
		}
		return out
	}
	out := m
	out.Configs = make([]Config, len(keep))
	out.Tradeoffs = make([]Tradeoff, len(keep))
	for j, i := range keep {
		out.Configs[j] = m.Configs[i]
		out.Tradeoffs[j] = m.Tradeoffs[i]
	}
	out.Memorization, out.Ability, out.Other = pick(m.Memorization), pick(m.Ability), pick(m.Other)
	out.Headline = nil
	return out
}

func memFigureSize(panels int) (vg.Length, vg.Length) {
	return vg.Length(panels)*4.4*vg.Inch + 1.2*vg.Inch, 4.9 * vg.Inch
}

func memMetricTitle(s Series) string {
	name := strings.ReplaceAll(s.Metric, "_", " ")
	if s.LessMemorizedWhenLower {
		return name + " (lower = less memorized)"
	}
	return name + " (higher = less memorized)"
}

func drawMemorizationFigure(dc draw.Canvas, m ModelBoard, ax abilityAxis, verb string) error {
	lo, hi := 0, 0
	if len(m.Blocks) > 0 {
		lo, hi = m.Blocks[0], m.Blocks[len(m.Blocks)-1]
	}
	what := fmt.Sprintf("each point is one %s block (colour and label = block number)", verb)
	if len(m.Blocks) < len(m.Configs) {
		what += "; grey diamonds: sets of blocks " + verb + " together"
	}
	body := drawTitle(dc,
		fmt.Sprintf("%s: memorization vs %s, attention of one block %s at a time", m.Label, ax.short, verb),
		what+"; black square and dotted lines: the unmodified model (baseline); bars: 95% intervals")
	barW := 1.0 * vg.Inch
	panelArea := body
	if len(m.Blocks) == 0 {
		barW = 0
	}
	panelArea.Max.X -= barW
	n := len(m.Memorization)
	plots := make([][]*plot.Plot, 1)
	for _, s := range m.Memorization {
		p := newPanel(memMetricTitle(s), ax.label, s.Metric)
		if n > 1 {
			p.X.Label.Text = ax.label
		}
		var pts plotter.XYs
		var labels []string
		var colors []color.Color
		var shapes []draw.GlyphDrawer
		var bars errorBars
		for i, c := range m.Configs {
			x, y := ax.xs[i], nan(s.Configs[i])
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
			labels = append(labels, c.Label)
			clr := color.Color(colorMulti)
			var shape draw.GlyphDrawer = draw.PyramidGlyph{}
			if b, ok := c.Block(); ok {
				clr, shape = blockColor(b, lo, hi), draw.CircleGlyph{}
			} else {
				shape = diamondGlyph{}
			}
			colors = append(colors, clr)
			shapes = append(shapes, shape)
			bars = append(bars, errorBar{x: x, y: y, dx: ax.xerr[i], dy: halfWidth(s.Configs[i]), color: clr})
		}
		if len(pts) > 0 {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.GlyphStyleFunc = func(i int) draw.GlyphStyle {
				return draw.GlyphStyle{Color: colors[i], Radius: 4.5, Shape: shapes[i]}
			}
			lst := textStyle(8)
			lst.Color = colorMuted
			p.Add(bars, sc, outlines{pts: pts, shapes: shapes, radius: 4.5}, blockLabels{pts: pts, labels: labels, style: lst, radius: 4.5})
		}
		if s.Baseline.Present && !math.IsNaN(ax.baseline) {
			p.Add(crosshair{x: ax.baseline, y: s.Baseline.Value})
			p.Add(errorBars{{x: ax.baseline, y: s.Baseline.Value, dx: ax.baselineErr, dy: halfWidth(s.Baseline), color: color.Black}})
			bp := plotter.XYs{{X: ax.baseline, Y: s.Baseline.Value}}
			base, _ := plotter.NewScatter(bp)
			base.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: 5, Shape: draw.BoxGlyph{}}
			bl, _ := plotter.NewLabels(plotter.XYLabels{XYs: bp, Labels: []string{"baseline"}})
			bl.TextStyle[0] = textStyle(8.5)
			bl.Offset = vg.Point{X: 7, Y: -3}
			p.Add(base, bl)
		}
		expandRange(&p.X, 0.08)
		expandRange(&p.Y, 0.08)
		plots[0] = append(plots[0], p)
	}
	tiles := draw.Tiles{Rows: 1, Cols: n, PadX: 0.35 * vg.Inch, PadLeft: 0.15 * vg.Inch, PadRight: 0.1 * vg.Inch, PadBottom: 0.1 * vg.Inch}
	canvases := plot.Align(plots, tiles, panelArea)
	for i, p := range plots[0] {
		p.Draw(canvases[0][i])
	}
	if len(m.Blocks) == 0 {
		return nil
	}
	bar := body
	bar.Min.X = body.Max.X - barW
	return drawBlockBar(padded(bar, 0.5*vg.Inch, 0.15*vg.Inch, 0.6*vg.Inch, 0.3*vg.Inch), m.Blocks)
}

// colorMulti colours the points of sets of blocks.
var colorMulti = color.RGBA{0x99, 0x99, 0x99, 0xff}

// diamondGlyph is a filled diamond (gonum has only its outline).
type diamondGlyph struct{}

func (diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.5)})
	r := sty.Radius * 1.25
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	c.SetColor(sty.Color)
	c.Fill(p)
}

// outlines rings each point in dark grey, in its own shape.
type outlines struct {
	pts    plotter.XYs
	shapes []draw.GlyphDrawer
	radius vg.Length
}

func (o outlines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	dark := color.RGBA{0x30, 0x30, 0x30, 0xff}
	for i, pt := range o.pts {
		at := vg.Point{X: trX(pt.X), Y: trY(pt.Y)}
		if _, ok := o.shapes[i].(diamondGlyph); ok {
			r := o.radius * 1.25
			var path vg.Path
			path.Move(vg.Point{X: at.X, Y: at.Y + r})
			path.Line(vg.Point{X: at.X + r, Y: at.Y})
			path.Line(vg.Point{X: at.X, Y: at.Y - r})
			path.Line(vg.Point{X: at.X - r, Y: at.Y})
			path.Close()
			c.SetLineStyle(draw.LineStyle{Color: dark, Width: vg.Points(0.8)})
			c.Stroke(path)
			continue
		}
		c.DrawGlyph(draw.GlyphStyle{Color: dark, Radius: o.radius, Shape: draw.RingGlyph{}}, at)
	}
}

// errorBar is a point's 95% interval on each axis (half-widths; NaN: none).
type errorBar struct {
	x, y, dx, dy float64
	color        color.Color
}

// errorBars draws error bars with small caps, lighter than their points.
type errorBars []errorBar

func (eb errorBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	const capLen = 2.5
	for _, e := range eb {
		sty := draw.LineStyle{Color: lighten(e.color, 0.35), Width: vg.Points(1)}
		x, y := trX(e.x), trY(e.y)
		if ok(e.dy) && e.dy > 0 {
			y0, y1 := trY(e.y-e.dy), trY(e.y+e.dy)
			c.StrokeLine2(sty, x, y0, x, y1)
			c.StrokeLine2(sty, x-capLen, y0, x+capLen, y0)
			c.StrokeLine2(sty, x-capLen, y1, x+capLen, y1)
		}
		if ok(e.dx) && e.dx > 0 {
			x0, x1 := trX(e.x-e.dx), trX(e.x+e.dx)
			c.StrokeLine2(sty, x0, y, x1, y)
			c.StrokeLine2(sty, x0, y-capLen, x0, y+capLen)
			c.StrokeLine2(sty, x1, y-capLen, x1, y+capLen)
		}
	}
}

// DataRange makes the axes hold the bars' ends.
func (eb errorBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, e := range eb {
		dx, dy := e.dx, e.dy
		if !ok(dx) {
			dx = 0
		}
		if !ok(dy) {
			dy = 0
		}
		xmin, xmax = math.Min(xmin, e.x-dx), math.Max(xmax, e.x+dx)
		ymin, ymax = math.Min(ymin, e.y-dy), math.Max(ymax, e.y+dy)
	}
	return xmin, xmax, ymin, ymax
}

func ok(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// lighten mixes a colour with white.
func lighten(c color.Color, f float64) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8(math.Round(float64(v>>8) + f*(255-float64(v>>8)))) }
	return color.RGBA{mix(r), mix(g), mix(b), 0xff}
}

// barErrors draws vertical 95% error bars on bars shifted by offset
// (a bar chart's Offset, in figure units).
type barErrors struct {
	xs, ys, errs []float64
	offset       vg.Length
}

func (eb barErrors) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := draw.LineStyle{Color: colorText, Width: vg.Points(0.9)}
	const capLen = 2
	for i, x := range eb.xs {
		px := trX(x) + eb.offset
		y0, y1 := trY(eb.ys[i]-eb.errs[i]), trY(eb.ys[i]+eb.errs[i])
		c.StrokeLine2(sty, px, y0, px, y1)
		c.StrokeLine2(sty, px-capLen, y0, px+capLen, y0)
		c.StrokeLine2(sty, px-capLen, y1, px+capLen, y1)
	}
}

func (eb barErrors) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i, x := range eb.xs {
		xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		ymin, ymax = math.Min(ymin, eb.ys[i]-eb.errs[i]), math.Max(ymax, eb.ys[i]+eb.errs[i])
	}
	return xmin, xmax, ymin, ymax
}

// band fills the area between lo and hi along xs, translucent.
type band struct {
	xs, lo, hi []float64
	color      color.Color
	alpha      uint8 // 0: 0x38
}

func (b band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	var path vg.Path
	n := 0
	for i, x := range b.xs {
		if !ok(b.lo[i]) || !ok(b.hi[i]) {
			continue
		}
		pt := vg.Point{X: trX(x), Y: trY(b.hi[i])}
		if n == 0 {
			path.Move(pt)
		} else {
			path.Line(pt)
		}
		n++
	}
	if n < 2 {
		return
	}
	for i := len(b.xs) - 1; i >= 0; i-- {
		if ok(b.lo[i]) && ok(b.hi[i]) {
			path.Line(vg.Point{X: trX(b.xs[i]), Y: trY(b.lo[i])})
		}
	}
	path.Close()
	r, g, bl, _ := b.color.RGBA()
	a := b.alpha
	if a == 0 {
		a = 0x38
	}
	c.SetColor(color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), a})
	c.Fill(path)
}

// drawable reports whether the band has two points with intervals.
func (b band) drawable() bool {
	n := 0
	for i := range b.xs {
		if ok(b.lo[i]) && ok(b.hi[i]) {
			n++
		}
	}
	return n >= 2
}

func (b band) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i, x := range b.xs {
		if !ok(b.lo[i]) || !ok(b.hi[i]) {
			continue
		}
		xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		ymin, ymax = math.Min(ymin, b.lo[i]), math.Max(ymax, b.hi[i])
	}
	return xmin, xmax, ymin, ymax
}

// blockLabels writes each point's block number next to it, on the first
// side (right-above, left-above, right-below, left-below) where it
// overlaps neither another label nor another point; a label with no free
// side is left out (the colour still tells the block).
type blockLabels struct {
	pts    plotter.XYs
	labels []string
	style  text.Style
	radius vg.Length
}

func (l blockLabels) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	centers := make([]vg.Point, len(l.pts))
	for i, pt := range l.pts {
		centers[i] = vg.Point{X: trX(pt.X), Y: trY(pt.Y)}
	}
	overlaps := func(a, b vg.Rectangle) bool {
		return a.Min.X < b.Max.X && b.Min.X < a.Max.X && a.Min.Y < b.Max.Y && b.Min.Y < a.Max.Y
	}
	var placed []vg.Rectangle
	r := l.radius
	for i, ctr := range centers {
		w, h := l.style.Width(l.labels[i]), l.style.Height(l.labels[i])
		gap := r + 1
		for _, off := range []vg.Point{{X: gap, Y: r / 2}, {X: -gap - w, Y: r / 2}, {X: gap, Y: -r/2 - h}, {X: -gap - w, Y: -r/2 - h}} {
			rect := vg.Rectangle{Min: vg.Point{X: ctr.X + off.X, Y: ctr.Y + off.Y}, Max: vg.Point{X: ctr.X + off.X + w, Y: ctr.Y + off.Y + h}}
			free := true
			for _, q := range placed {
				if overlaps(rect, q) {
					free = false
					break
				}
			}
			for j, o := range centers {
				if free && j != i && overlaps(rect, vg.Rectangle{Min: vg.Point{X: o.X - r, Y: o.Y - r}, Max: vg.Point{X: o.X + r, Y: o.Y + r}}) {
					free = false
				}
			}
			if free {
				c.FillText(l.style, rect.Min, l.labels[i])
				placed = append(placed, rect)
				break
			}
		}
	}
}

// crosshair draws dotted lines through a point across the whole panel.
type crosshair struct{ x, y float64 }

func (ch crosshair) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := draw.LineStyle{Color: color.RGBA{0x88, 0x88, 0x88, 0xff}, Width: 0.8, Dashes: []vg.Length{1.5, 2.5}}
	x, y := trX(ch.x), trY(ch.y)
	c.StrokeLine2(sty, c.Min.X, y, c.Max.X, y)
	c.StrokeLine2(sty, x, c.Min.Y, x, c.Max.Y)
}

// blockBar draws one coloured cell per block: the colour legend of the
// memorization figures.
type blockBar struct{ blocks []int }

func (b blockBar) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	lo, hi := b.blocks[0], b.blocks[len(b.blocks)-1]
	for _, blk := range b.blocks {
		rect := vg.Rectangle{
			Min: vg.Point{X: trX(0), Y: trY(float64(blk) - 0.5)},
			Max: vg.Point{X: trX(1), Y: trY(float64(blk) + 0.5)},
		}
		c.SetColor(blockColor(blk, lo, hi))
		c.Fill(rect.Path())
	}
}

func (b blockBar) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, 1, float64(b.blocks[0]) - 0.5, float64(b.blocks[len(b.blocks)-1]) + 0.5
}

func drawBlockBar(c draw.Canvas, blocks []int) error {
	p := plot.New()
	p.Title.Text = "block"
	restyle(&p.Title.TextStyle, 10, colorText)
	p.HideX()
	p.Y.Padding = 0
	restyle(&p.Y.Tick.Label, 9, colorMuted)
	p.Y.Color = colorMuted
	p.Y.Tick.Color = colorMuted
	step := max(1, (len(blocks)+11)/12)
	var ticks []plot.Tick
	for i, b := range blocks {
		label := ""
		if i%step == 0 || i == len(blocks)-1 {
			label = strconv.Itoa(b)
		}
		ticks = append(ticks, plot.Tick{Value: float64(b), Label: label})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(blockBar{blocks: blocks})
	w := c.Max.X - c.Min.X
	if w > 0.55*vg.Inch { // keep the bar slim
		c.Min.X += (w - 0.55*vg.Inch) / 2
		c.Max.X = c.Min.X + 0.55*vg.Inch
	}
	p.Draw(c)
	return nil
}

// ------------------------------------------------------- per-block curves

type panelKey struct{ task, metric string }

type panelInfo struct {
	key   panelKey
	title string
}

// perBlockPanels lists the (task, metric) panels over all models:
// memorization metrics, then ability metrics, then the rest.
func perBlockPanels(models []ModelBoard) []panelInfo {
	var out []panelInfo
	seen := map[panelKey]bool{}
	add := func(ss []Series) {
		for _, s := range ss {
			k := panelKey{s.Task, s.Metric}
			if seen[k] || !hasFinite(s) {
				continue
			}
			seen[k] = true
			var dir string
			if s.Role == RoleMemorization {
				dir = "higher = less memorized"
				if s.LessMemorizedWhenLower {
					dir = "lower = less memorized"
				}
			} else {
				dir = betterWord(s.HigherIsBetter) + " is better"
			}
			out = append(out, panelInfo{key: k, title: fmt.Sprintf("%s: %s (%s)", s.Task, s.Metric, dir)})
		}
	}
	for _, m := range models {
		add(m.Memorization)
	}
	for _, m := range models {
		add(m.Ability)
	}
	for _, m := range models {
		var rest []Series
		for _, s := range m.Other {
			if s.Role != RoleMemorization { // breakdowns and counts stay in the tables
				rest = append(rest, s)
			}
		}
		add(rest)
	}
	return out
}

// hasFinite reports whether any configuration of s has a finite value.
func hasFinite(s Series) bool {
	for _, b := range s.Configs {
		if b.Present && !math.IsNaN(b.Value) && !math.IsInf(b.Value, 0) {
			return true
		}
	}
	return false
}

// kindVerb says what an intervention kind does to a block, for figure text.
func kindVerb(k intervention.Kind) string {
	switch k {
	case intervention.AttnShortCircuit:
		return "short-circuited"
	case intervention.AttnZero:
		return "zero-ablated"
	}
	return string(k)
}

func findSeries(m ModelBoard, k panelKey) *Series {
	for _, ss := range [][]Series{m.Memorization, m.Ability, m.Other} {
		for i := range ss {
			if ss[i].Task == k.task && ss[i].Metric == k.metric {
				return &ss[i]
			}
		}
	}
	return nil
}

func drawPerBlock(dc draw.Canvas, models []ModelBoard, panels []panelInfo, cols, rows int, verb string) error {
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Label
	}
	body := drawTitle(dc, "Scores with the attention of one block "+verb+", by block",
		"solid line: the block on the x axis "+verb+"; dashed line: the unmodified model (baseline); shaded: 95% intervals (±1.96 standard errors)")
	body = drawModelLegend(body, names)
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	maxBlock := 0
	for _, m := range models {
		maxBlock = max(maxBlock, m.Blocks[len(m.Blocks)-1])
	}
	for i, pi := range panels {
		p := newPanel(pi.title, verb+" block", pi.key.metric)
		for mi, m := range models {
			s := findSeries(m, pi.key)
			if s == nil {
				continue
			}
			clr := modelColors[mi%len(modelColors)]
			var pts plotter.XYs
			var bd band
			for bi, b := range m.Blocks {
				if v := nan(s.Configs[bi]); !math.IsNaN(v) && !math.IsInf(v, 0) {
					pts = append(pts, plotter.XY{X: float64(b), Y: v})
					h := halfWidth(s.Configs[bi])
					bd.xs, bd.lo, bd.hi = append(bd.xs, float64(b)), append(bd.lo, v-h), append(bd.hi, v+h)
				}
			}
			bd.color = clr
			if bd.drawable() {
				p.Add(bd)
			}
			if len(pts) > 0 {
				line, sc, err := plotter.NewLinePoints(pts)
				if err != nil {
					return err
				}
				line.Color, line.Width = clr, 1.6
				sc.GlyphStyle = draw.GlyphStyle{Color: clr, Radius: 2.6, Shape: draw.CircleGlyph{}}
				p.Add(line, sc)
			}
			if s.Baseline.Present && !math.IsNaN(s.Baseline.Value) {
				x0, x1 := float64(m.Blocks[0])-0.3, float64(m.Blocks[len(m.Blocks)-1])+0.3
				if h := halfWidth(s.Baseline); ok(h) && h > 0 {
					v := s.Baseline.Value
					p.Add(band{xs: []float64{x0, x1}, lo: []float64{v - h, v - h}, hi: []float64{v + h, v + h}, color: clr, alpha: 0x1c})
				}
				bl, err := plotter.NewLine(plotter.XYs{{X: x0, Y: s.Baseline.Value}, {X: x1, Y: s.Baseline.Value}})
				if err != nil {
					return err
				}
				bl.Color, bl.Width, bl.Dashes = clr, 1.2, []vg.Length{5, 3}
				p.Add(bl)
			}
		}
		p.X.Tick.Marker = blockTicks(maxBlock)
		expandRange(&p.Y, 0.12)
		plots[i/cols][i%cols] = p
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: 0.3 * vg.Inch, PadY: 0.3 * vg.Inch, PadLeft: 0.1 * vg.Inch, PadRight: 0.15 * vg.Inch, PadBottom: 0.1 * vg.Inch}
	canvases := plot.Align(plots, tiles, body)
	for r := range plots {
		for c, p := range plots[r] {
			if p != nil {
				p.Draw(canvases[r][c])
			}
		}
	}
	return nil
}

// drawModelLegend draws one centred row of legend entries (a solid and a
// dashed line sample and the model's name, in the model's colour) at the
// top of dc and returns the canvas below it.
func drawModelLegend(dc draw.Canvas, names []string) draw.Canvas {
	st := textStyle(10)
	st.YAlign = draw.YCenter
	const sample, gap, sep = 22, 5, 18
	total := vg.Length(0)
	for _, n := range names {
		total += 2*sample + 2*gap + st.Width(n) + sep
	}
	total -= sep
	x := (dc.Min.X+dc.Max.X)/2 - total/2
	y := dc.Max.Y - 8
	for i, n := range names {
		clr := modelColors[i%len(modelColors)]
		dc.StrokeLine2(draw.LineStyle{Color: clr, Width: 1.8}, x, y, x+sample, y)
		dc.DrawGlyph(draw.GlyphStyle{Color: clr, Radius: 2.6, Shape: draw.CircleGlyph{}}, vg.Point{X: x + sample/2, Y: y})
		x += sample + gap
		dc.StrokeLine2(draw.LineStyle{Color: clr, Width: 1.3, Dashes: []vg.Length{5, 3}}, x, y, x+sample, y)
		x += sample + gap
		dc.FillText(st, vg.Point{X: x, Y: y}, n)
		x += st.Width(n) + sep
	}
	out := dc
	out.Max.Y = y - 12
	return out
}

// blockTicks marks integer blocks, thinned out for deep models.
func blockTicks(maxBlock int) plot.Ticker {
	step := 1
	for (maxBlock+1)/step > 13 {
		step *= 2
	}
	var ts []plot.Tick
	for b := 0; b <= maxBlock; b++ {
		label := ""
		if b%step == 0 {
			label = strconv.Itoa(b)
		}
		ts = append(ts, plot.Tick{Value: float64(b), Label: label})
	}
	return plot.ConstantTicks(ts)
}

// ------------------------------------------------ drop by task category

type catDrops struct {
	cats  []string             // categories with data, language first
	tasks map[string][]string  // category → tasks averaged
	drops map[string][]float64 // category → per block mean relative drop (%), NaN when unknown
	errs  map[string][]float64 // category → per block half-width of its 95% interval (%), NaN when unknown
	what  string               // "accuracy" or "ability"
}

// categoryDrops averages, per task category and block, the relative drop
// of the tasks' main metric. A category uses its accuracy-like metrics
// (higher is better, non-zero baseline, so a relative drop is defined);
// a category without any — e.g. a small model whose LAMBADA accuracy is 0 —
// falls back to its other ability metrics (held-out NLL), signed so that a
// positive drop means worse, and is labelled with the metric it used.
func categoryDrops(m ModelBoard) catDrops {
	out := catDrops{tasks: map[string][]string{}, drops: map[string][]float64{}, errs: map[string][]float64{}, what: "accuracy"}
	accuracyLike := func(s Series) bool { return s.HigherIsBetter && s.Baseline.Present && s.Baseline.Value != 0 }
	for _, c := range []string{plugins.CategoryLanguage, plugins.CategoryReasoning} {
		var use []Series
		for _, s := range m.Ability {
			if s.TaskCategory == c && accuracyLike(s) {
				use = append(use, s)
			}
		}
		fallback := len(use) == 0
		if fallback {
			for _, s := range m.Ability {
				if s.TaskCategory == c && s.Baseline.Present && s.Baseline.Value != 0 {
					use = append(use, s)
				}
			}
		}
		if len(use) == 0 {
			continue
		}
		if fallback {
			out.what = "ability"
		}
		sums, counts := make([]float64, len(m.Blocks)), make([]int, len(m.Blocks))
		sq := make([]float64, len(m.Blocks))
		for _, s := range use {
			name := s.Task
			if fallback {
				name += " " + s.Metric
			}
			out.tasks[c] = append(out.tasks[c], name)
			for i := range m.Blocks {
				if d := -s.goodChange(i); !math.IsNaN(d) && !math.IsInf(d, 0) {
					sums[i] += 100 * d
					h := 100 * changeHalfWidth(s, i)
					sq[i] += h * h // NaN when a task has no interval: then so has the mean
					counts[i]++
				}
			}
		}
		out.cats = append(out.cats, c)
		d := make([]float64, len(m.Blocks))
		e := make([]float64, len(m.Blocks))
		for i := range d {
			d[i], e[i] = math.NaN(), math.NaN()
			if counts[i] > 0 {
				d[i] = sums[i] / float64(counts[i])
				e[i] = math.Sqrt(sq[i]) / float64(counts[i])
			}
		}
		out.drops[c] = d
		out.errs[c] = e
	}
	return out
}

func drawCategoryDrops(dc draw.Canvas, models []ModelBoard, verb string) error {
	what := "accuracy"
	for _, m := range models {
		if categoryDrops(m).what != "accuracy" {
			what = "ability"
		}
	}
	cats := "language vs reasoning tasks"
	var seen []string
	for _, m := range models {
		for _, c := range categoryDrops(m).cats {
			if !slices.Contains(seen, c) {
				seen = append(seen, c)
			}
		}
	}
	if len(seen) == 1 {
		cats = seen[0] + " tasks only"
	}
	sub := "mean over each category's tasks of (baseline − score) / baseline; above zero = worse than the unmodified model; bars: 95% intervals"
	if what != "accuracy" {
		sub = "mean over each category's tasks of the main metric's relative change, signed so that above zero = worse than the unmodified model; bars: 95% intervals"
	}
	body := drawTitle(dc, fmt.Sprintf("Relative decrease in %s by %s block: %s", what, verb, cats), sub)
	plots := make([][]*plot.Plot, len(models))
	for i, m := range models {
		cd := categoryDrops(m)
		p := newPanel(m.Label, verb+" block", fmt.Sprintf("relative %s decrease (%%)", cd.what))
		p.Legend.Top = true
		lo := m.Blocks[0]
		span := float64(m.Blocks[len(m.Blocks)-1] - lo + 1)
		dataW := float64(dc.Max.X-dc.Min.X) - 1.3*72
		width := vg.Length(math.Max(2, math.Min(30, dataW/span*0.7/float64(len(cd.cats)))))
		for k, c := range cd.cats {
			// One bar per block from lo to the last block; missing blocks stay empty.
			vals := make(plotter.Values, m.Blocks[len(m.Blocks)-1]-lo+1)
			for bi, b := range m.Blocks {
				if v := cd.drops[c][bi]; !math.IsNaN(v) {
					vals[b-lo] = v
				}
			}
			bars, err := plotter.NewBarChart(vals, width)
			if err != nil {
				return err
			}
			bars.XMin = float64(lo)
			bars.Color = categoryColors[c]
			bars.LineStyle.Width = 0
			bars.Offset = width * (vg.Length(k) - vg.Length(len(cd.cats)-1)/2)
			p.Add(bars)
			var eb barErrors
			for bi, b := range m.Blocks {
				if v, e := cd.drops[c][bi], cd.errs[c][bi]; ok(v) && ok(e) && e > 0 {
					eb.xs, eb.ys, eb.errs = append(eb.xs, float64(b)), append(eb.ys, v), append(eb.errs, e)
				}
			}
			if len(eb.xs) > 0 {
				eb.offset = bars.Offset
				p.Add(eb)
			}
			p.Legend.Add(fmt.Sprintf("%s (%s)", c, strings.Join(cd.tasks[c], ", ")), bars)
		}
		zero, _ := plotter.NewLine(plotter.XYs{{X: float64(lo) - 0.6, Y: 0}, {X: float64(m.Blocks[len(m.Blocks)-1]) + 0.6, Y: 0}})
		zero.Color, zero.Width = colorMuted, 0.8
		p.Add(zero)
		p.X.Tick.Marker = blockTicks(m.Blocks[len(m.Blocks)-1])
		expandRange(&p.Y, 0.3) // room for the legend above the bars
		plots[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(models), Cols: 1, PadY: 0.35 * vg.Inch, PadLeft: 0.1 * vg.Inch, PadRight: 0.2 * vg.Inch, PadBottom: 0.1 * vg.Inch}
	canvases := plot.Align(plots, tiles, body)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return nil
}
