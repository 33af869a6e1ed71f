package runner

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/harness/internal/testplugins"
	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// The real-plugin test drives the cpu backend and the memorization and
// heldout_perplexity tasks on the embedded memorizer model: the backend
// process is killed after the first finished cell, and the re-run must
// resume and write the same tables as an uninterrupted run.

var (
	realOnce sync.Once
	realDir  string
	realErr  error
	realSkip string
)

func realPlugins(t *testing.T) string {
	t.Helper()
	realOnce.Do(func() {
		bins := map[string]string{}
		for _, b := range []string{"memscope-backend-cpu", "memscope-task-memorization", "memscope-task-heldout_perplexity"} {
			pkg, ok := testplugins.Real(b)
			if !ok {
				realSkip = b + " is not in this tree yet"
				return
			}
			bins[b] = pkg
		}
		if realDir, realErr = testplugins.ScratchDir("real-plugins"); realErr == nil {
			realErr = testplugins.Build(realDir, bins)
		}
	})
	if realSkip != "" {
		t.Skip(realSkip)
	}
	require.NoError(t, realErr)
	return realDir
}

func TestRealPluginsKilledBackendThenResume(t *testing.T) {
	dir := realPlugins(t)
	embedded, err := filepath.Abs(filepath.Join("..", "embedded", "memorizer"))
	require.NoError(t, err)
	specs, err := plan.ParseInterventions([]string{"attn-sc:4-5;attn-sc:5"})
	require.NoError(t, err)
	cfg := func(out string) Config {
		return Config{
			Models:  []plan.Model{{Dir: filepath.Join(embedded, "model"), Name: "memorizer"}},
			Backend: "cpu",
			Tasks: []TaskConfig{
				{Name: "memorization", Options: map[string]string{"data": filepath.Join(embedded, "canaries.npy")}},
				{Name: "heldout_perplexity", Options: map[string]string{"data": filepath.Join(embedded, "heldout.npy")}},
			},
			Interventions: specs,
			Docs:          []plugins.DocRange{{First: 0, Last: 7}},
			Seed:          1234,
			Threads:       1,
			OutDir:        out,
			ChunkSize:     4,
		}
	}
	ref := t.TempDir()
	var procs []*plugins.Process
	sum, err := Run(context.Background(), cfg(ref), subprocessDeps(t, dir, &procs))
	require.NoError(t, err)
	assert.Equal(t, 6, sum.Cells) // none, attn-sc:4-5, attn-sc:5 × 2 tasks
	assert.Equal(t, 6, sum.Models[0].Info.NumLayers)

	out := t.TempDir()
	deps := subprocessDeps(t, dir, &procs)
	killed := false
	deps.AfterCell = func(ev CellEvent) {
		if !killed {
			killed = true
			ev.Backend.Kill()
		}
	}
	_, err = Run(context.Background(), cfg(out), deps)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "plugin backend cpu crashed while running model memorizer, intervention none, task heldout_perplexity")

	sum, err = Run(context.Background(), cfg(out), subprocessDeps(t, dir, &procs))
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Resumed)
	assert.Equal(t, 5, sum.Computed)
	m1, d1, r1 := tables(t, ref)
	m2, d2, r2 := tables(t, out)
	assert.Equal(t, m1, m2)
	assert.Equal(t, d1, d2)
	assert.Equal(t, r1, r2)

	run, err := results.ReadMetrics(out)
	require.NoError(t, err)
	var names []string
	for _, m := range run.Metrics {
		if m.Intervention.IsBaseline() {
			names = append(names, m.Task+"/"+m.Metric)
		}
	}
	assert.Contains(t, names, "memorization/exact_match")
	assert.Contains(t, names, "heldout_perplexity/perplexity")
}
