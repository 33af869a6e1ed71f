package results_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

func writeCells(t *testing.T, dir, runID string, cells []results.CellResult) {
	t.Helper()
	w, err := results.Create(dir, resultstest.Info(runID))
	require.NoError(t, err)
	for _, c := range cells {
		require.NoError(t, w.Add(c))
	}
	require.NoError(t, w.Close())
}

func TestDiffIgnoresRunIDsAndFindsChanges(t *testing.T) {
	cells := resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)
	a, b := t.TempDir(), t.TempDir()
	writeCells(t, a, "run-a", cells)
	writeCells(t, b, "run-b", cells)
	d, err := results.Diff(a, b, 0)
	require.NoError(t, err)
	assert.Empty(t, d, "the same rows under two run ids")

	// A table only one run has (comparisons.arrow of a run written before
	// memscope stored it), then neither.
	require.NoError(t, os.Remove(filepath.Join(b, results.ComparisonsFile)))
	d, err = results.Diff(a, b, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"comparisons.arrow: only the first run has it"}, d)
	require.NoError(t, os.Remove(filepath.Join(a, results.ComparisonsFile)))
	d, err = results.Diff(a, b, 0)
	require.NoError(t, err)
	assert.Empty(t, d)

	// One document's metric changed in its last bit, one NaN made a number.
	changed := make([]results.CellResult, len(cells))
	copy(changed, cells)
	c := &changed[3]
	c.Docs = append([]results.DocRow(nil), c.Docs...)
	doc := &c.Docs[1]
	metrics := map[string]float64{}
	var name string
	for k, v := range doc.Metrics {
		metrics[k] = v
		name = k
	}
	metrics[name] = math.Nextafter(metrics[name], math.Inf(1))
	doc.Metrics = metrics
	c.Metrics = append([]results.MetricRow(nil), c.Metrics...)
	c.Metrics[0].Stderr = math.NaN()
	writeCells(t, b, "run-b", changed)
	d, err = results.Diff(a, b, 0)
	require.NoError(t, err)
	require.NotEmpty(t, d)
	joined := ""
	for _, s := range d {
		joined += s + "\n"
	}
	assert.Contains(t, joined, "docs.arrow row ")
	assert.Contains(t, joined, "column "+name+":")
	if !math.IsNaN(cells[3].Metrics[0].Stderr) {
		assert.Contains(t, joined, "metrics.arrow row ")
		assert.Contains(t, joined, "column stderr:")
	}

	// A missing row.
	writeCells(t, b, "run-b", cells[:len(cells)-1])
	d, err = results.Diff(a, b, 0)
	require.NoError(t, err)
	require.NotEmpty(t, d)
	assert.Contains(t, d[0], "rows in the first run")

	_, err = results.Diff(a, t.TempDir(), 0)
	assert.Error(t, err)
}
