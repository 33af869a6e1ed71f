// Package progress shows a run's progress on the terminal: one mpb bar per
// cell being computed (model · intervention · task) with its rate and ETA,
// fed by the plugins' Progress callbacks, and a bottom bar counting
// finished cells. Finished cells leave one line above the bars; log lines
// (plugin stderr, warnings) are printed above the bars too.
//
// When the output is not a terminal (CI, a pipe, a file) no bars are
// drawn: each finished cell prints one concise line instead, so logs stay
// readable.
package progress

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Mode chooses how progress is shown.
type Mode int

const (
	// Auto draws bars when the output is a terminal that has a width,
	// lines otherwise.
	Auto Mode = iota
	// Bars always draws bars.
	Bars
	// Lines prints one line per finished cell.
	Lines
)

// Display is the progress of one run. Its methods are safe for concurrent
// use.
type Display struct {
	out io.Writer
	p   *mpb.Progress // nil in Lines mode

	// LineEvery is how often a cell still running prints a progress line
	// in Lines mode (default 30 s), so long cells show signs of life in CI
	// logs.
	LineEvery time.Duration

	mu      sync.Mutex
	total   int // cells planned so far
	done    int // cells finished (computed or resumed)
	overall *mpb.Bar
	final   bool // no more cells will be added
	closed  bool

	// copies for the render goroutine, which must not take mu
	doneA, totalA atomic.Int64
	finalA        atomic.Bool
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// hasWidth reports whether the terminal w says how wide it is. A terminal
// of no columns (a pseudo-terminal nobody sized: script(1) without a
// terminal of its own, docker -t from a pipe) makes mpb draw nothing.
func hasWidth(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	return err == nil && cols > 0
}

// New starts a display writing to out (normally os.Stderr). Cancelling
// ctx stops the bars.
func New(ctx context.Context, out io.Writer, mode Mode) *Display {
	d := &Display{out: out, LineEvery: 30 * time.Second}
	if mode == Auto {
		mode = Lines
		if IsTerminal(out) && hasWidth(out) {
			mode = Bars
		}
	}
	if mode == Bars {
		d.p = mpb.NewWithContext(ctx,
			mpb.WithOutput(out),
			mpb.WithAutoRefresh(),
			mpb.WithRefreshRate(150*time.Millisecond),
			mpb.WithWidth(32),
		)
	}
	return d
}

// Bars reports whether bars are drawn.
func (d *Display) Bars() bool { return d.p != nil }

// Log is the writer for log lines: above the bars while they are drawn,
// straight to the output otherwise.
func (d *Display) Log() io.Writer { return logWriter{d} }

type logWriter struct{ d *Display }

func (w logWriter) Write(b []byte) (int, error) {
	if p := w.d.p; p != nil {
		if n, err := p.Write(b); err == nil {
			return n, nil
		}
	}
	return w.d.out.Write(b)
}

// Printf prints one line above the bars.
func (d *Display) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		msg += "\n"
	}
	io.WriteString(d.Log(), msg)
}

// AddCells announces n more cells (a model's cells are known once it is
// loaded).
func (d *Display) AddCells(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total += n
	d.totalA.Store(int64(d.total))
	d.updateOverallTotal()
}

// NoMoreCells says every cell has been announced, so the bottom bar may
// complete.
func (d *Display) NoMoreCells() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.final = true
	d.finalA.Store(true)
	d.updateOverallTotal()
}

// updateOverallTotal keeps the bottom bar one short of complete while
// more cells may come: mpb bars cannot be revived once complete.
func (d *Display) updateOverallTotal() {
	if d.p == nil || d.closed {
		return
	}
	total := int64(d.total)
	if !d.final {
		total++
	}
	if d.overall == nil {
		d.overall = d.p.AddBar(total,
			mpb.BarPriority(1<<30), // always the bottom line
			mpb.PrependDecorators(
				decor.Name("cells", decor.WC{W: 6, C: decor.DindentRight}),
				decor.Any(func(decor.Statistics) string { return d.counts() }, decor.WCSyncWidth),
			),
			mpb.AppendDecorators(
				decor.OnComplete(decor.Name("ETA "), ""),
				decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncWidth), "done"),
				decor.Name("  elapsed "),
				decor.Elapsed(decor.ET_STYLE_GO),
			),
		)
		d.overall.SetCurrent(int64(d.done))
		return
	}
	d.overall.SetTotal(total, d.final && d.done >= d.total)
}

// counts renders "done/total", with a "+" while more cells may come.
func (d *Display) counts() string {
	more := ""
	if !d.finalA.Load() {
		more = "+"
	}
	return fmt.Sprintf("%d/%d%s", d.doneA.Load(), d.totalA.Load(), more)
}

// finishOne counts a finished cell and returns "k/N", or "k/N+" while
// more cells may come (the next model's, known once it is loaded).
func (d *Display) finishOne() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done++
	d.doneA.Store(int64(d.done))
	if d.overall != nil {
		d.overall.SetCurrent(int64(d.done))
	}
	more := ""
	if !d.final {
		more = "+"
	}
	return fmt.Sprintf("%d/%d%s", d.done, d.total, more)
}

// Resumed reports a cell that was already finished in an earlier run.
func (d *Display) Resumed(label, summary string) {
	n := d.finishOne()
	d.Printf("[%s] %s: %s (resumed)", n, label, summary)
}

// unitsPerRequest: a cell's bar counts thousandths of a request, so a
// cell of a few long requests moves while they run (one book scored by
// heldout_perplexity is one request of minutes of rolling windows).
const unitsPerRequest = 1000

// Cell is the bar of one cell being computed.
type Cell struct {
	d         *Display
	label     string
	bar       *mpb.Bar
	start     time.Time
	mu        sync.Mutex
	last      time.Time
	current   float64 // requests answered, fractions of running ones included
	total     int
	cached    int       // answered from the cache at the start
	lastPrint time.Time // last progress line (Lines mode)
	// currentA is current for the bar's decorators, which run on mpb's
	// goroutine and must not take mu (a bar update under mu waits on it).
	currentA atomic.Uint64
}

// StartCell shows a bar for a cell of total requests, of which cached are
// already answered from the cache.
func (d *Display) StartCell(label string, total, cached int) *Cell {
	now := time.Now()
	c := &Cell{d: d, label: label, start: now, last: now, total: total, current: float64(cached), cached: cached, lastPrint: now}
	c.currentA.Store(math.Float64bits(c.current))
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil || d.closed {
		return c
	}
	c.bar = d.p.AddBar(int64(max(total, 1))*unitsPerRequest,
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(
			decor.Name(label, decor.WCSyncSpaceR),
			decor.Any(func(s decor.Statistics) string {
				return c.countText(float64(s.Current)/unitsPerRequest) + " req"
			}, decor.WCSyncWidth),
		),
		mpb.AppendDecorators(
			decor.Any(func(decor.Statistics) string { return c.rateText(time.Now()) }, decor.WCSyncWidth),
			decor.Name("  ETA "),
			decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncWidth),
		),
	)
	if cached > 0 {
		c.bar.SetCurrent(int64(cached) * unitsPerRequest)
	}
	return c
}

// Progress sets how many of the cell's requests are answered; it may be
// called from any goroutine.
func (c *Cell) Progress(done int) { c.ProgressFraction(float64(done)) }

// ProgressFraction is Progress counting the finished part of requests
// still running (2.5: two answered and half of the third).
func (c *Cell) ProgressFraction(done float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if done <= c.current {
		return
	}
	now := time.Now()
	dur := now.Sub(c.last)
	c.last, c.current = now, done
	c.currentA.Store(math.Float64bits(done))
	if c.bar != nil {
		// The bar completes only in Done, after scoring.
		units := min(int64(done*unitsPerRequest), int64(max(c.total, 1))*unitsPerRequest-1)
		c.bar.EwmaSetCurrent(units, dur)
		return
	}
	if every := c.d.LineEvery; every > 0 && now.Sub(c.lastPrint) >= every {
		c.lastPrint = now
		c.d.Printf("      %s: %s", c.label, c.rateLine(now))
	}
}

// countText is "1200/5153", with a tenth of a request where a cell has few
// ("0.4/1").
func (c *Cell) countText(done float64) string {
	if c.total <= 20 {
		return fmt.Sprintf("%.1f/%d", math.Floor(done*10)/10, c.total)
	}
	return fmt.Sprintf("%d/%d", int(done), c.total)
}

// rateText is the mean rate of computed requests so far ("4.1 req/s"),
// for the bar.
func (c *Cell) rateText(now time.Time) string {
	rate := 0.0
	if elapsed := now.Sub(c.start).Seconds(); elapsed > 0 {
		rate = (math.Float64frombits(c.currentA.Load()) - float64(c.cached)) / elapsed
	}
	if rate < 1 {
		return fmt.Sprintf("%.2f req/s", rate)
	}
	return fmt.Sprintf("%.1f req/s", rate)
}

// rateLine is "1200/5153 requests (23%), 4.1 req/s, ETA 16m0s".
func (c *Cell) rateLine(now time.Time) string {
	line := fmt.Sprintf("%s requests (%d%%)", c.countText(c.current), int(100*c.current/float64(max(c.total, 1))))
	computed := c.current - float64(c.cached)
	elapsed := now.Sub(c.start).Seconds()
	if computed > 0 && elapsed > 0 {
		rate := computed / elapsed
		eta := time.Duration((float64(c.total) - c.current) / rate * float64(time.Second)).Round(time.Second)
		if rate < 1 {
			line += fmt.Sprintf(", %.2f req/s, ETA %s", rate, eta)
		} else {
			line += fmt.Sprintf(", %.1f req/s, ETA %s", rate, eta)
		}
	}
	return line
}

// Done ends the cell with a one-line summary ("acc=0.612 …").
func (c *Cell) Done(summary string) {
	if c.bar != nil {
		c.bar.Abort(true)
	}
	n := c.d.finishOne()
	took := time.Since(c.start).Round(100 * time.Millisecond).String()
	if c.total > 0 && c.cached >= c.total {
		took = "from the cache"
	}
	c.d.Printf("[%s] %s: %s (%s)", n, c.label, summary, took)
}

// Fail removes the bar of a cell that did not finish.
func (c *Cell) Fail() {
	if c.bar != nil {
		c.bar.Abort(true)
	}
}

// Close stops drawing; call it once, after the last cell.
func (d *Display) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	overall := d.overall
	d.mu.Unlock()
	if d.p == nil {
		return
	}
	if overall != nil && !overall.Completed() {
		overall.Abort(false)
	}
	d.p.Wait()
}
