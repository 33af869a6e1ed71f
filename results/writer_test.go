package results_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

func writeSynthetic(t *testing.T, dir string, opts ...results.Option) []results.CellResult {
	t.Helper()
	cells := resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)
	w, err := results.Create(dir, resultstest.Info("run-1"), opts...)
	require.NoError(t, err)
	for _, c := range cells {
		require.NoError(t, w.Add(c))
	}
	require.NoError(t, w.Close())
	return cells
}

// flatten lists the rows of cells in the order they were added.
func flatten(cells []results.CellResult) (m []results.MetricRow, d []results.DocRow, r []results.RequestRow) {
	for _, c := range cells {
		m = append(m, c.Metrics...)
		d = append(d, c.Docs...)
		r = append(r, c.Requests...)
	}
	return
}

// normalizeDocs makes nil metric maps empty (Read always returns a map).
func normalizeDocs(docs []results.DocRow) []results.DocRow {
	out := append([]results.DocRow(nil), docs...)
	for i := range out {
		if out[i].Metrics == nil {
			out[i].Metrics = map[string]float64{}
		}
	}
	return out
}

func TestRoundTripExact(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	cells := writeSynthetic(t, dir, results.WithAllocator(mem))

	run, err := results.Read(dir, results.WithAllocator(mem))
	require.NoError(t, err)
	wantM, wantD, wantR := flatten(cells)

	// NaN != NaN, so compare stderr separately and then blank it.
	require.Len(t, run.Metrics, len(wantM))
	gotM := append([]results.MetricRow(nil), run.Metrics...)
	wantM = append([]results.MetricRow(nil), wantM...)
	nanStderr := 0
	for i := range gotM {
		assert.Equal(t, math.IsNaN(wantM[i].Stderr), math.IsNaN(gotM[i].Stderr), "row %d stderr NaN-ness", i)
		if math.IsNaN(wantM[i].Stderr) {
			nanStderr++
			gotM[i].Stderr, wantM[i].Stderr = 0, 0
		}
	}
	assert.Positive(t, nanStderr, "the synthetic run has NaN stderrs to round-trip")
	assert.Equal(t, wantM, gotM)
	assert.Equal(t, normalizeDocs(wantD), run.Docs)
	// Generations have no log-likelihood: NaN in, null on disk, NaN out.
	require.Len(t, run.Requests, len(wantR))
	gotR := append([]results.RequestRow(nil), run.Requests...)
	wantR = append([]results.RequestRow(nil), wantR...)
	generations := 0
	for i := range gotR {
		if wantR[i].RequestType == plugins.KindGenerateTokens {
			generations++
			assert.True(t, math.IsNaN(gotR[i].LogLikelihood), "row %d", i)
			gotR[i].LogLikelihood, wantR[i].LogLikelihood = 0, 0
		}
	}
	assert.Positive(t, generations)
	assert.Equal(t, wantR, gotR)

	info := run.Info
	want := resultstest.Info("run-1")
	assert.Equal(t, want.RunID, info.RunID)
	assert.True(t, want.Started.Equal(info.Started))
	assert.True(t, want.Finished.Equal(info.Finished))
	info.Started, info.Finished, want.Started, want.Finished = info.Started.UTC(), info.Finished.UTC(), want.Started.UTC(), want.Finished.UTC()
	assert.Equal(t, want, info)
}

func TestRoundTripEdgeCases(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	base := results.Cell{Model: "m", Backend: "cpu", DType: "float32", Intervention: intervention.Intervention{}, Task: "t1", TaskVersion: "2", TaskCategory: "language"}
	multi := base
	multi.Intervention = intervention.New(intervention.AttnShortCircuit, 3, 1)
	zero := base
	zero.Intervention = intervention.New(intervention.AttnZero, 2)
	zero.Task = "t2"
	cells := []results.CellResult{
		{Cell: base,
			Metrics: []results.MetricRow{{Metric: "acc", Value: 0.5, Stderr: math.NaN(), N: 1, HigherIsBetter: true}},
			Docs: []results.DocRow{
				{DocIndex: 0, Gold: -1, Prediction: -1, Metrics: map[string]float64{"acc": 1}},
				{DocIndex: 7, Gold: 0, Prediction: 3, ChoiceLogLikelihoods: []float64{}, Metrics: nil},
				{DocIndex: 8, Gold: 2, Prediction: 0, ChoiceLogLikelihoods: []float64{-1, math.Inf(-1), -0.5}, Metrics: map[string]float64{"acc": math.NaN()}},
			},
		},
		{Cell: multi,
			Metrics: []results.MetricRow{{Metric: "acc", Value: 0.25, Stderr: 0.01, N: 4, HigherIsBetter: true}},
			Docs:    []results.DocRow{{DocIndex: 0, Gold: 1, Prediction: 1, Metrics: map[string]float64{"exact_match": 0, "token_accuracy": 0.75}}},
			Requests: []results.RequestRow{
				{DocIndex: 0, RequestIndex: 0, RequestType: plugins.KindLoglikelihood, Context: "", Continuation: "ünïcødé ✓", LogLikelihood: -3, IsGreedy: true, ContextTokens: 1, ContinuationTokens: 4},
				{DocIndex: 0, RequestIndex: 1, RequestType: plugins.KindLoglikelihoodRolling, Context: "a", Continuation: "", LogLikelihood: math.Inf(-1)},
			},
		},
		{Cell: zero},
	}
	w, err := results.Create(dir, results.RunInfo{RunID: "edge"}, results.WithAllocator(mem))
	require.NoError(t, err)
	for _, c := range cells {
		require.NoError(t, w.Add(c))
	}
	w.SetExtra("learned", "while running") // into a nil Extra
	require.NoError(t, w.Close())

	run, err := results.Read(dir, results.WithAllocator(mem))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"learned": "while running"}, run.Info.Extra)
	require.Len(t, run.Metrics, 2)
	assert.True(t, math.IsNaN(run.Metrics[0].Stderr))
	assert.Equal(t, 0.01, run.Metrics[1].Stderr)
	assert.Equal(t, intervention.Baseline(), run.Metrics[0].Intervention, "zero intervention reads back as the baseline")
	assert.Equal(t, multi.Intervention, run.Metrics[1].Intervention)
	assert.Equal(t, "1,3", run.Metrics[1].Intervention.BlocksString())

	require.Len(t, run.Docs, 4)
	d := run.Docs
	assert.Equal(t, -1, d[0].Gold)
	assert.Equal(t, -1, d[0].Prediction)
	assert.Nil(t, d[0].ChoiceLogLikelihoods, "null list reads back as nil")
	assert.Equal(t, map[string]float64{"acc": 1}, d[0].Metrics, "metric columns of other tasks are null, not 0")
	assert.Equal(t, []float64{}, d[1].ChoiceLogLikelihoods, "empty list stays empty, not null")
	assert.Equal(t, map[string]float64{}, d[1].Metrics)
	assert.Equal(t, 3, d[1].Prediction)
	assert.Equal(t, []float64{-1, math.Inf(-1), -0.5}, d[2].ChoiceLogLikelihoods)
	assert.True(t, math.IsNaN(d[2].Metrics["acc"]), "a NaN metric value is kept (it is not the same as a missing one)")
	assert.Equal(t, map[string]float64{"exact_match": 0, "token_accuracy": 0.75}, d[3].Metrics)

	require.Len(t, run.Requests, 2)
	r0 := cells[1].Requests[0]
	r0.Cell = multi
	assert.Equal(t, r0, run.Requests[0])
	assert.True(t, math.IsInf(run.Requests[1].LogLikelihood, -1))
	assert.Equal(t, "", run.Requests[1].Continuation)

	// The docs table's metric columns are the union over the run, sorted.
	names := columnNames(t, filepath.Join(dir, results.DocsFile))
	assert.Equal(t, []string{"acc", "exact_match", "token_accuracy"}, names[len(names)-3:])
}

func columnNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	require.NoError(t, err)
	defer r.Close()
	var names []string
	for _, fld := range r.Schema().Fields() {
		names = append(names, fld.Name)
	}
	return names
}

func readSchema(t *testing.T, path string) *arrow.Schema {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	require.NoError(t, err)
	defer r.Close()
	return r.Schema()
}

func TestSchemaColumnsAndMetadata(t *testing.T) {
	dir := t.TempDir()
	writeSynthetic(t, dir)
	cellCols := []string{"run_id", "model", "model_hash", "backend", "dtype", "intervention", "intervention_kind", "blocks", "task", "task_version", "task_category"}
	want := map[string][]string{
		results.MetricsFile:  append(append([]string{}, cellCols...), "metric", "value", "stderr", "n", "higher_is_better"),
		results.DocsFile:     append(append([]string{}, cellCols...), "doc_index", "gold", "prediction", "choice_loglikelihoods", "acc", "acc_norm", "completion_entropy", "exact_match", "nll", "token_accuracy"),
		results.RequestsFile: append(append([]string{}, cellCols...), "doc_index", "request_index", "request_type", "context", "continuation", "input_ids", "loglikelihood", "is_greedy", "context_tokens", "continuation_tokens", "generated_ids"),
	}
	documented := map[string]results.TableSchema{}
	for _, ts := range results.Schemas() {
		documented[ts.File] = ts
	}
	for file, cols := range want {
		s := readSchema(t, filepath.Join(dir, file))
		var got []string
		for _, f := range s.Fields() {
			got = append(got, f.Name)
		}
		assert.Equal(t, cols, got, file)
		// Every column has the documented type and nullability; the docs
		// table's per-doc metric columns are nullable float64.
		doc := documented[file]
		for i, f := range s.Fields() {
			if i < len(doc.Columns) {
				c := doc.Columns[i]
				assert.Equal(t, c.Name, f.Name, file)
				assert.True(t, arrow.TypeEqual(c.Type, f.Type), "%s.%s is %s, documented %s", file, f.Name, f.Type, c.Type)
				assert.Equal(t, c.Nullable, f.Nullable, "%s.%s nullability", file, f.Name)
				continue
			}
			require.Equal(t, results.DocsFile, file, "only the docs table has columns beyond the documented ones")
			assert.True(t, arrow.TypeEqual(arrow.PrimitiveTypes.Float64, f.Type) && f.Nullable, "docs.%s is a nullable float64 metric column", f.Name)
		}
		assert.Equal(t, "2", s.Metadata().Values()[s.Metadata().FindKey("memscope.format_version")], file)
		for _, name := range []string{"model", "task", "intervention"} {
			i := s.FieldIndices(name)[0]
			assert.Equal(t, arrow.DICTIONARY, s.Field(i).Type.ID(), "%s.%s is dictionary-encoded", file, name)
		}
		md := s.Metadata()
		get := func(k string) string { return md.Values()[md.FindKey(k)] }
		for _, k := range []string{"memscope.run_id", "memscope.harness_version", "memscope.git_commit", "memscope.started", "memscope.finished",
			"memscope.machine", "memscope.batch_size", "memscope.seed", "memscope.limit", "memscope.docs", "memscope.task_config_hashes",
			"memscope.extra", "memscope.metric_definitions", "memscope.format_version", "memscope.table"} {
			assert.GreaterOrEqual(t, md.FindKey(k), 0, "%s has %s", file, k)
		}
		assert.Equal(t, "run-1", get("memscope.run_id"))
		assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", get("memscope.git_commit"))
		assert.Equal(t, "8", get("memscope.batch_size"))
		assert.Equal(t, "1234", get("memscope.seed"))
		assert.Equal(t, `{"memorization":"sha256:bb","piqa":"sha256:aa"}`, get("memscope.task_config_hashes"))
		assert.Contains(t, get("memscope.metric_definitions"), "token_accuracy")
		assert.Contains(t, get("memscope.metric_definitions"), "sequence positions")
	}
	for _, name := range []string{"context", "continuation", "request_type"} {
		s := readSchema(t, filepath.Join(dir, results.RequestsFile))
		assert.Equal(t, arrow.DICTIONARY, s.Field(s.FieldIndices(name)[0]).Type.ID(), "requests.%s is dictionary-encoded", name)
	}
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestAbortLeavesNothing(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	w, err := results.Create(dir, resultstest.Info("aborted"), results.WithAllocator(mem))
	require.NoError(t, err)
	for _, c := range resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)[:10] {
		require.NoError(t, w.Add(c))
	}
	assert.NotEmpty(t, listDir(t, dir), "spool files exist while the run is going")
	w.Abort()
	assert.Empty(t, listDir(t, dir))
	assert.Error(t, w.Add(resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)[10]))
	assert.Error(t, w.Close())
	_, err = results.Read(dir)
	var nr *results.NoResultsError
	assert.ErrorAs(t, err, &nr)
}

func TestFailureMidWriteLeavesNoTables(t *testing.T) {
	for _, step := range []string{"docs", "requests", "metrics", "commit-docs", "commit-requests", "commit-metrics"} {
		t.Run(step, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			results.SetFailAt(func(s string) error {
				if s == step {
					return errors.New("disk on fire")
				}
				return nil
			})
			defer results.SetFailAt(nil)
			w, err := results.Create(dir, resultstest.Info("failing"), results.WithAllocator(mem))
			require.NoError(t, err)
			for _, c := range resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks) {
				require.NoError(t, w.Add(c))
			}
			err = w.Close()
			require.ErrorContains(t, err, "disk on fire")
			assert.Empty(t, listDir(t, dir), "no table and no temporary file is left")
		})
	}
}

func TestFailedRunKeepsEarlierTables(t *testing.T) {
	dir := t.TempDir()
	writeSynthetic(t, dir)
	before := listDir(t, dir)
	results.SetFailAt(func(s string) error {
		if s == "requests" {
			return errors.New("interrupted")
		}
		return nil
	})
	defer results.SetFailAt(nil)
	w, err := results.Create(dir, resultstest.Info("run-2"))
	require.NoError(t, err)
	require.NoError(t, w.Add(resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)[0]))
	require.Error(t, w.Close())
	assert.Equal(t, before, listDir(t, dir))
	run, err := results.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, "run-1", run.Info.RunID)
}

func TestMixedRunsAreDetected(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeSynthetic(t, a)
	w, err := results.Create(b, resultstest.Info("other"))
	require.NoError(t, err)
	require.NoError(t, w.Add(resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks)[0]))
	require.NoError(t, w.Close())
	// Simulate an interruption between renames: b's docs table next to a's metrics.
	data, err := os.ReadFile(filepath.Join(b, results.DocsFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(a, results.DocsFile), data, 0o644))
	_, err = results.Read(a)
	assert.ErrorContains(t, err, "different runs")
}

func TestAddRejectsBadCells(t *testing.T) {
	dir := t.TempDir()
	w, err := results.Create(dir, results.RunInfo{})
	require.NoError(t, err)
	defer w.Abort()
	ok := results.Cell{Model: "m", Task: "t", Intervention: intervention.New(intervention.AttnShortCircuit, 1)}
	other := ok
	other.Task = "u"
	for name, c := range map[string]results.CellResult{
		"no model":         {Cell: results.Cell{Task: "t"}},
		"no task":          {Cell: results.Cell{Model: "m"}},
		"bad kind":         {Cell: results.Cell{Model: "m", Task: "t", Intervention: intervention.Intervention{Kind: "weird", Blocks: []int{1}}}},
		"duplicate metric": {Cell: ok, Metrics: []results.MetricRow{{Metric: "acc"}, {Metric: "acc"}}},
		"unnamed metric":   {Cell: ok, Metrics: []results.MetricRow{{Metric: ""}}},
		"reserved name":    {Cell: ok, Docs: []results.DocRow{{Metrics: map[string]float64{"gold": 1}}}},
		"foreign row":      {Cell: ok, Metrics: []results.MetricRow{{Cell: other, Metric: "acc"}}},
		"request type":     {Cell: ok, Requests: []results.RequestRow{{RequestType: "sample"}}},
	} {
		assert.Error(t, w.Add(c), name)
	}
	require.NoError(t, w.Add(results.CellResult{Cell: ok}))
	err = w.Add(results.CellResult{Cell: ok})
	assert.ErrorContains(t, err, "already added")
	assert.NotEmpty(t, w.Info().RunID, "a run id is made up when none is given")
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := results.Read(dir)
	assert.EqualError(t, err, "no memscope results in "+dir+" (expected metrics.arrow; run memscope run --out "+dir+" first)")
	require.NoError(t, os.WriteFile(filepath.Join(dir, results.MetricsFile), []byte("not arrow"), 0o644))
	_, err = results.Read(dir)
	assert.ErrorContains(t, err, "not an Arrow IPC file")
}

func TestFindRuns(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, resultstest.Write(filepath.Join(root, "a"), "a", resultstest.DefaultModels[:1], resultstest.DefaultTasks[:1]))
	require.NoError(t, resultstest.Write(filepath.Join(root, "sweeps", "b"), "b", resultstest.DefaultModels[:1], resultstest.DefaultTasks[:1]))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "empty"), 0o755))
	runs, err := results.FindRuns(root)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(root, "a"), filepath.Join(root, "sweeps", "b")}, runs)
	runs, err = results.FindRuns(filepath.Join(root, "a"), root)
	require.NoError(t, err)
	assert.Len(t, runs, 2, "duplicates are dropped")
	_, err = results.FindRuns(filepath.Join(root, "empty"))
	var nr *results.NoResultsError
	assert.ErrorAs(t, err, &nr)
}
