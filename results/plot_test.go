package results_test

import (
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

// figureDir is where TestPlot leaves its figures for a person to look at
// (MEMSCOPE_FIGURES=/tmp/figs go test ./results -run TestPlot$).
var figureDir = os.Getenv("MEMSCOPE_FIGURES")

func pngSize(t *testing.T, path string) (int, int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, path)
	b := img.Bounds()
	return b.Dx(), b.Dy()
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, resultstest.Write(dir, "run-1", resultstest.DefaultModels, resultstest.DefaultTasks))
	run, err := results.ReadMetrics(dir)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "figures")
	if figureDir != "" {
		out = figureDir
	}
	paths, err := results.Plot(run, out, results.LeaderboardOptions{})
	require.NoError(t, err)

	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	sort.Strings(names)
	assert.Equal(t, []string{
		"accuracy_drop_by_category.png",
		"memorization_vs_ability_gptneo-tiny.png",
		"memorization_vs_ability_pythia-tiny.png",
		"memorization_vs_heldout_perplexity_gptneo-tiny.png",
		"memorization_vs_heldout_perplexity_pythia-tiny.png",
		"memorization_vs_lambada_openai_gptneo-tiny.png",
		"memorization_vs_lambada_openai_pythia-tiny.png",
		"memorization_vs_piqa_gptneo-tiny.png",
		"memorization_vs_piqa_pythia-tiny.png",
		"per_block.png",
	}, names)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, len(paths), "no temporary files are left")

	// Sizes follow the layout: 150 dpi; memorization figures are 3 panels
	// of 4.4 in plus 1.2 in for the block colours, 4.9 in high; the
	// per-block grid is 3x3 panels of 4.6x3.5 in plus margins; the category
	// figure is 8 in wide with one 3.6 in panel per model.
	want := map[string][2]int{
		"memorization_vs_piqa_pythia-tiny.png": {2160, 735},
		"per_block.png":                        {2100, 1665},
		"accuracy_drop_by_category.png":        {1200, 1170},
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(20_000), "%s has content", p)
		w, h := pngSize(t, p)
		if sz, ok := want[filepath.Base(p)]; ok {
			assert.Equal(t, sz, [2]int{w, h}, filepath.Base(p))
		}
	}
}

func TestPlotWithoutBenchmarks(t *testing.T) {
	// Memorization and held-out perplexity only (the embedded demo): the
	// category figure falls back to ability (NLL) and names the category.
	dir := t.TempDir()
	models := []resultstest.Model{{Name: "EleutherAI/pythia-410m", Blocks: 24, Strength: 0.9, Ability: 0.8, MemPeak: 0.95}}
	require.NoError(t, resultstest.Write(dir, "r", models, resultstest.DefaultTasks[:2]))
	run, err := results.ReadMetrics(dir)
	require.NoError(t, err)
	paths, err := results.Plot(run, t.TempDir(), results.LeaderboardOptions{})
	require.NoError(t, err)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	assert.ElementsMatch(t, []string{
		"memorization_vs_heldout_perplexity_EleutherAI_pythia-410m.png",
		"per_block.png",
		"accuracy_drop_by_category.png",
	}, names, "one ability task: no mean-ability figure; model names become safe file names")
	for _, p := range paths {
		w, h := pngSize(t, p)
		assert.Positive(t, w*h)
		if strings.HasPrefix(filepath.Base(p), "accuracy_drop") {
			assert.Equal(t, 1887, w, "(24 blocks x 0.42 in + 2.5 in) x 150 dpi: wide enough for 24 blocks")
		}
	}
}

func TestPlotNeedsSingleBlocks(t *testing.T) {
	dir := t.TempDir()
	w, err := results.Create(dir, results.RunInfo{RunID: "base-only"})
	require.NoError(t, err)
	c := results.Cell{Model: "m", Task: "memorization", TaskCategory: "memorization"}
	require.NoError(t, w.Add(results.CellResult{Cell: c, Metrics: []results.MetricRow{{Metric: "exact_match", Value: 0.4}}}))
	c.Intervention = intervention.New(intervention.AttnShortCircuit, 0, 1)
	require.NoError(t, w.Add(results.CellResult{Cell: c, Metrics: []results.MetricRow{{Metric: "exact_match", Value: 0.1}}}))
	require.NoError(t, w.Close())
	run, err := results.ReadMetrics(dir)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "figs")
	_, err = results.Plot(run, out, results.LeaderboardOptions{})
	assert.ErrorContains(t, err, "nothing to plot in "+dir+": the figures need memorization and ability scores with a baseline, or single blocks short-circuited")
	assert.NoDirExists(t, out)
}

func TestNiceTicks(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range results.NiceTicks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	assert.Equal(t, []string{"0.1", "0.2", "0.3", "0.4"}, labels(0.05, 0.45))
	assert.Equal(t, []string{"-30", "-20", "-10", "0"}, labels(-37, 1))
	assert.Equal(t, []string{"3.25", "3.50", "3.75", "4.00", "4.25"}, labels(3.25, 4.3))
	assert.Equal(t, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}, labels(0, 1))
	assert.Equal(t, []string{"1000", "2000", "3000", "4000", "5000"}, labels(100, 5000))
}
