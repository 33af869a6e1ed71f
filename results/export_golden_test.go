package results_test

import (
	"bytes"
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./results -update")
	assert.Equal(t, string(want), string(got), "differs from %s (run go test ./results -update to accept)", path)
}

// tinyRun is a small run for export goldens: one model, baseline and
// block 1, on memorization, lambada_openai and piqa, plus a cell with
// awkward values (infinities, NaN, quotes, non-ASCII text).
func tinyRun(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	model := resultstest.Model{Name: "pythia-tiny", Blocks: 2, Strength: 0.9, Ability: 0.8}
	tasks := []resultstest.Task{resultstest.DefaultTasks[0], resultstest.DefaultTasks[2], resultstest.DefaultTasks[3]}
	tasks[0].Docs, tasks[1].Docs, tasks[2].Docs = 2, 1, 2
	w, err := results.Create(dir, resultstest.Info("tiny"))
	require.NoError(t, err)
	for _, c := range resultstest.Cells([]resultstest.Model{model}, tasks) {
		require.NoError(t, w.Add(c))
	}
	odd := results.Cell{Model: "pythia-tiny", ModelHash: "sha256:pythia-tiny", Backend: "cpu", DType: "float32",
		Intervention: intervention.New(intervention.AttnZero, 0, 1), Task: "custom", TaskVersion: "0.1", TaskCategory: "reasoning"}
	require.NoError(t, w.Add(results.CellResult{Cell: odd,
		Metrics: []results.MetricRow{{Metric: "acc", Value: math.NaN(), Stderr: math.Inf(1), N: 0, HigherIsBetter: true}},
		Docs:    []results.DocRow{{DocIndex: 0, Gold: 1, Prediction: -1, ChoiceLogLikelihoods: []float64{math.Inf(-1), -1e-7}, Metrics: map[string]float64{"acc": 0}}},
		Requests: []results.RequestRow{{DocIndex: 0, RequestIndex: 1, RequestType: plugins.KindLoglikelihood,
			Context: "He said \"naïve\" <b>, then\ttab", Continuation: " ✓ done,\r\n", LogLikelihood: math.Inf(-1), ContextTokens: 12, ContinuationTokens: 3}},
	}))
	require.NoError(t, w.Close())
	return dir
}

func TestExportGolden(t *testing.T) {
	dir := tinyRun(t)
	for _, table := range results.Tables {
		for _, format := range []string{results.FormatJSONL, results.FormatCSV} {
			var buf bytes.Buffer
			require.NoError(t, results.Export(&buf, dir, table, format))
			golden(t, "export_"+table+"."+format, buf.Bytes())
		}
	}
}

func TestExportErrors(t *testing.T) {
	dir := tinyRun(t)
	var buf bytes.Buffer
	assert.EqualError(t, results.Export(&buf, dir, "cells", "csv"), `unknown table "cells" (choose metrics, docs, requests, comparisons)`)
	assert.EqualError(t, results.Export(&buf, dir, "docs", "xlsx"), `unknown export format "xlsx" (choose jsonl, csv, parquet)`)
	empty := t.TempDir()
	out := filepath.Join(t.TempDir(), "x.parquet")
	err := results.ExportFile(out, empty, "metrics", "parquet")
	var nr *results.NoResultsError
	assert.ErrorAs(t, err, &nr)
	assert.NoFileExists(t, out)
}

func TestExportParquetReadsBack(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	writeSynthetic(t, dir)
	run, err := results.Read(dir)
	require.NoError(t, err)
	outDir := t.TempDir()
	for _, table := range results.Tables {
		path := filepath.Join(outDir, table+".parquet")
		require.NoError(t, results.ExportFile(path, dir, table, results.FormatParquet, results.WithAllocator(mem)))
		assert.Equal(t, []string{table + ".parquet"}, listDirNames(t, outDir, table), "no temporary file is left")

		f, err := os.Open(path)
		require.NoError(t, err)
		rdr, err := file.NewParquetReader(f)
		require.NoError(t, err)
		kv := rdr.MetaData().KeyValueMetadata()
		assert.Equal(t, "run-1", *kv.FindValue("memscope.run_id"), "run metadata is in the Parquet key-value metadata")
		assert.Equal(t, table, *kv.FindValue("memscope.table"))
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		require.NoError(t, err)
		tbl, err := fr.ReadTable(context.Background())
		require.NoError(t, err)
		rdr.Close()

		var want int
		switch table {
		case results.TableMetrics:
			want = len(run.Metrics)
		case results.TableDocs:
			want = len(run.Docs)
		case results.TableComparisons:
			cs, err := results.ReadComparisons(dir)
			require.NoError(t, err)
			want = len(cs)
		default:
			want = len(run.Requests)
		}
		assert.EqualValues(t, want, tbl.NumRows(), table)
		// Spot-check: the model column decodes to the same strings.
		col := tbl.Column(tbl.Schema().FieldIndices("model")[0]).Data().Chunk(0)
		var first string
		switch c := col.(type) {
		case *array.Dictionary:
			first = c.Dictionary().(*array.String).Value(c.GetValueIndex(0))
		case *array.String:
			first = c.Value(0)
		default:
			t.Fatalf("model column has type %s", col.DataType())
		}
		assert.Equal(t, "pythia-tiny", first)
		if table == results.TableMetrics {
			i := tbl.Schema().FieldIndices("stderr")[0]
			assert.Equal(t, arrow.FLOAT64, tbl.Schema().Field(i).Type.ID())
			assert.Positive(t, tbl.Column(i).NullN(), "NaN stderr is null in Parquet too")
		}
		tbl.Release()
	}
}

func listDirNames(t *testing.T, dir, prefix string) []string {
	t.Helper()
	var out []string
	for _, n := range listDir(t, dir) {
		if len(n) >= len(prefix) && (n[:len(prefix)] == prefix || n[1:min(len(n), len(prefix)+1)] == prefix) {
			out = append(out, n)
		}
	}
	return out
}

func TestReadParquetWithPqarrowReadTable(t *testing.T) {
	dir := tinyRun(t)
	path := filepath.Join(t.TempDir(), "docs.parquet")
	require.NoError(t, results.ExportFile(path, dir, results.TableDocs, results.FormatParquet))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	defer tbl.Release()
	var names []string
	for _, f := range tbl.Schema().Fields() {
		names = append(names, f.Name)
	}
	assert.Contains(t, names, "choice_loglikelihoods")
	assert.Contains(t, names, "exact_match")
	i := tbl.Schema().FieldIndices("choice_loglikelihoods")[0]
	assert.Equal(t, arrow.LIST, tbl.Schema().Field(i).Type.ID())
}
