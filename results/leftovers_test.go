package results_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	}))
	sort.Strings(out)
	return out
}

// A writer killed mid-run (kill -9: no Abort) left its spools, and one
// killed while closing its staged tables and half-written temporary files;
// a later successful run never removed them. RemoveLeftovers removes
// exactly those, not the tables or anyone else's files.
func TestRemoveLeftoversOfKilledWriters(t *testing.T) {
	dir := t.TempDir()
	writeSynthetic(t, dir)
	cells := resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)
	killed, err := results.Create(dir, resultstest.Info("killed"))
	require.NoError(t, err)
	require.NoError(t, killed.Add(cells[0]))
	// (killed is never closed: its process died.)
	figures := filepath.Join(dir, results.FiguresDir)
	require.NoError(t, os.MkdirAll(figures, 0o755))
	for _, f := range []string{
		".memscope-0123456789ab.docs.staged", "..memscope-0123456789ab.metrics.staged.tmp-4242",
		"figures/.per_block.png.tmp-77", "figures/per_block.png", "notes.txt", ".hidden-user-file", "figures/.x.png.tmp-",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644))
	}
	before := listFiles(t, dir)
	assert.Len(t, before, 4+2+7, "tables, the killed writer's two spools, the files above: %v", before)

	removed, err := results.RemoveLeftovers(dir, "")
	require.NoError(t, err)
	assert.Len(t, removed, 5)
	assert.Equal(t, []string{".hidden-user-file", "comparisons.arrow", "docs.arrow", "figures/.x.png.tmp-", "figures/per_block.png",
		"metrics.arrow", "notes.txt", "requests.arrow"}, listFiles(t, dir))
	_, err = results.Read(dir)
	require.NoError(t, err)

	removed, err = results.RemoveLeftovers(filepath.Join(dir, "missing"), filepath.Join(dir, "missing2"))
	require.NoError(t, err)
	assert.Empty(t, removed)
}

// With a scratch folder the writer's spools and staged tables stay out of
// the run directory; they go when it closes, and RemoveLeftovers clears
// what a killed one left there.
func TestWriterScratchDir(t *testing.T) {
	dir := t.TempDir()
	scratch := filepath.Join(dir, ".memscope-state", "tmp")
	cells := resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)
	w, err := results.Create(dir, resultstest.Info("run"), results.WithScratchDir(scratch))
	require.NoError(t, err)
	require.NoError(t, w.Add(cells[0]))
	assert.Equal(t, []string{".memscope-state/tmp"}, dirsWithFiles(t, dir))
	require.NoError(t, w.Close())
	assert.Equal(t, []string{"comparisons.arrow", "docs.arrow", "metrics.arrow", "requests.arrow"}, listFiles(t, dir))

	killed, err := results.Create(dir, resultstest.Info("killed"), results.WithScratchDir(scratch))
	require.NoError(t, err)
	require.NoError(t, killed.Add(cells[0]))
	removed, err := results.RemoveLeftovers(dir, scratch)
	require.NoError(t, err)
	assert.Len(t, removed, 2)
	assert.Equal(t, []string{"comparisons.arrow", "docs.arrow", "metrics.arrow", "requests.arrow"}, listFiles(t, dir))
}

// dirsWithFiles lists the folders under dir (relative) that hold files.
func dirsWithFiles(t *testing.T, dir string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range listFiles(t, dir) {
		if d := filepath.Dir(f); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
