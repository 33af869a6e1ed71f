package results_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

// reportRun writes a synthetic sweep (with a set of blocks) and its page.
func reportRun(t *testing.T) (runDir, page string) {
	t.Helper()
	runDir = filepath.Join(t.TempDir(), "sweep")
	models := slices.Clone(resultstest.DefaultModels)
	models[0].Sets = [][]int{{4, 5}}
	require.NoError(t, resultstest.Write(runDir, "run-1", models, resultstest.DefaultTasks))
	runs, err := results.LoadRuns(runDir)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, results.WriteReport(&buf, runs, results.ReportOptions{Version: "v-test", Generated: time.Unix(0, 0)}))
	page = filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(page, buf.Bytes(), 0o644))
	return runDir, page
}

func TestReportIsSelfContained(t *testing.T) {
	_, page := reportRun(t)
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	html := string(b)
	assert.NotRegexp(t, `(?i)(src|href)\s*=\s*"(https?:)?//`, html, "nothing is fetched from the network")
	assert.Contains(t, html, "default-src 'none'", "the page forbids itself any network access")
	assert.Equal(t, 10, strings.Count(html, `src="data:image/png;base64,`), "every figure of the run is embedded")
	assert.Contains(t, html, "pythia-tiny")
	assert.Contains(t, html, "sha256:pythia-tiny")
	assert.Contains(t, html, `<td class="num" data-value="0.028`, "the set of blocks 4,5 has its row")
}

// chromium finds Debian's chromium (or Chrome) for the browser test.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MEMSCOPE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: the HTML report's browser test needs it (Debian: apt-get install chromium; .ci/run installs it); set MEMSCOPE_CHROMIUM to use another")
	return ""
}

// TestReportInChromium opens the page in headless chromium: it renders
// without a console error, its numbers equal the Arrow tables', and a
// click on a heading sorts its table.
func TestReportInChromium(t *testing.T) {
	bin := chromium(t)
	runDir, page := reportRun(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// Every console message and exception of the page; the subscription
	// starts the browser (so no timeout on ctx itself).
	cctx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(cctx)
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	tctx, cancelT := context.WithTimeout(ctx, 3*time.Minute) // a loaded CI machine starts chromium slowly
	defer cancelT()

	type cell struct {
		Run, Model, Intervention, Task, Metric, Value, Text string
	}
	require.NoError(t, chromedp.Do(tctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS("#summary"))))
	cells, err := chromedp.Run(tctx, chromedp.Evaluate[[]cell](`Array.from(document.querySelectorAll("td[data-metric]")).map(c => ({
		Run: c.dataset.run, Model: c.dataset.model, Intervention: c.dataset.intervention, Task: c.dataset.task, Metric: c.dataset.metric,
		Value: c.dataset.value || "", Text: c.firstChild ? c.firstChild.textContent : ""}))`))
	require.NoError(t, err)
	imgs, err := chromedp.Run(tctx, chromedp.Evaluate[int](`Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length`))
	require.NoError(t, err)
	rankOrder := chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#model-1-memorization tbody tr")).map(r => r.cells[0].textContent)`)
	before, err := chromedp.Run(tctx, rankOrder)
	require.NoError(t, err)
	// Sort the memorization table by exact_match: ascending on the first click.
	require.NoError(t, chromedp.Do(tctx, chromedp.Click(chromedp.CSS(`#model-1-memorization th[data-key="memorization/exact_match"]`))))
	after, err := chromedp.Run(tctx, rankOrder)
	require.NoError(t, err)
	shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	stopConsole()
	<-done

	mu.Lock()
	assert.Empty(t, problems, "the page logs no error or warning")
	mu.Unlock()
	assert.Equal(t, 10, imgs, "every figure decodes")

	// The page's numbers are the tables'.
	run, err := results.ReadMetrics(runDir)
	require.NoError(t, err)
	want := map[string]float64{}
	for _, m := range run.Metrics {
		want[strings.Join([]string{m.Model, m.Intervention.String(), m.Task, m.Metric}, "|")] = m.Value
	}
	require.NotEmpty(t, cells)
	for _, c := range cells {
		assert.Equal(t, "run-1", c.Run)
		v, ok := want[strings.Join([]string{c.Model, c.Intervention, c.Task, c.Metric}, "|")]
		require.True(t, ok, "%+v is in metrics.arrow", c)
		got, err := strconv.ParseFloat(c.Value, 64)
		require.NoError(t, err, "%+v", c)
		assert.Equal(t, v, got, "%+v: data-value is the table's float64", c)
		shown, err := strconv.ParseFloat(c.Text, 64)
		require.NoError(t, err, "%+v", c)
		assert.InDelta(t, v, shown, 0.0005+1e-9*v, "%+v: the text shows the table's value rounded", c)
	}
	// 2 models × (memorization: 3 metrics + 2 groups? none here; ability: 3 tasks) × configurations, baseline included.
	assert.Len(t, cells, (3+3)*(1+7)+(3+3)*(1+6))

	// Sorting by exact_match ascending puts the configuration that removes
	// the most memorization first (4,5 for this model), the baseline stays on top.
	assert.Equal(t, "baseline", before[0])
	assert.Equal(t, []string{"baseline", "0", "1", "2", "3", "4", "5", "4,5"}, before)
	assert.Equal(t, "baseline", after[0])
	assert.Equal(t, "4,5", after[1])
	assert.Equal(t, "5", after[2])
	assert.ElementsMatch(t, before, after)

	// The screenshot is a rendered page, not a blank one.
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	bounds := img.Bounds()
	assert.GreaterOrEqual(t, bounds.Dx(), 1000)
	assert.Greater(t, bounds.Dy(), 2000, "the whole page, figures included")
	dark := 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			if r+g+b < 3*0x8000 {
				dark++
			}
		}
	}
	assert.Greater(t, dark, 500, "text and figures are drawn")
	if out := os.Getenv("MEMSCOPE_REPORT_SCREENSHOT"); out != "" {
		require.NoError(t, os.WriteFile(out, shot, 0o644))
	}
}

func TestReportCommandLineShape(t *testing.T) {
	// The page names each run and its provenance.
	_, page := reportRun(t)
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`<h2>Run run-1</h2>`), string(b))
	assert.Contains(t, string(b), "test-machine (2 cores)")
}
