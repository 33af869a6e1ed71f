package results_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

// The tables as other programs read them: Arrow JS reads the Arrow IPC
// files, DuckDB the Parquet export, both from npm (results/testdata/readers;
// `npm ci --prefix results/testdata/readers`, as .ci/run does). The DuckDB
// queries are the README's.

const readersDir = "testdata/readers"

// README's DuckDB examples, run here as they are printed there.
const (
	readmeDuckDBMeans = `select intervention, avg(exact_match) from 'docs.parquet' where task = 'memorization' group by 1 order by 1`
	// Re-scores memorization's exact match from the requests table alone:
	// each generation against the true suffix ending the teacher-forced
	// sequence of the same document.
	readmeDuckDBRescore = `select g.intervention, g.doc_index, g.generated_ids = t.input_ids[-len(g.generated_ids):] as exact_match ` +
		`from 'requests.parquet' g join 'requests.parquet' t using (model, intervention, task, doc_index) ` +
		`where g.task = 'memorization' and g.request_index = 0 and t.request_index = 1 order by 1, 2`
)

// node runs a reader script; without node or the npm packages the test is
// skipped (outside CI) with what to install.
func node(t *testing.T, args ...string) []byte {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errMods := os.Stat(filepath.Join(readersDir, "node_modules", "apache-arrow"))
	if errNode != nil || errMods != nil {
		msg := "third-party readers not installed: needs node and `npm ci --prefix results/testdata/readers`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (.ci/run installs them)")
		}
		t.Skip(msg)
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = readersDir
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, stderr)
	return out
}

// jsType is how Arrow JS names a column type.
func jsType(dt arrow.DataType) string {
	switch dt := dt.(type) {
	case *arrow.DictionaryType:
		return "Dictionary<Int32, Utf8>"
	case *arrow.ListType:
		return "List<" + jsType(dt.Elem()) + ">"
	case *arrow.BooleanType:
		return "Bool"
	}
	return map[arrow.Type]string{arrow.INT32: "Int32", arrow.INT64: "Int64", arrow.FLOAT64: "Float64"}[dt.ID()]
}

func ids(v any) []int32 {
	if v == nil {
		return nil
	}
	out := []int32{}
	for _, x := range v.([]any) {
		out = append(out, int32(x.(float64)))
	}
	return out
}

func TestArrowJSReadsTheTables(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, resultstest.Write(dir, "run-js", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	var got map[string]struct {
		Fields []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Nullable bool   `json:"nullable"`
		} `json:"fields"`
		Metadata map[string]string `json:"metadata"`
		Rows     []map[string]any  `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(node(t, "arrow.mjs", abs), &got))

	run, err := results.Read(dir)
	require.NoError(t, err)
	for _, ts := range results.Schemas() {
		js := got[ts.Name]
		assert.Equal(t, "2", js.Metadata["memscope.format_version"], ts.Name)
		require.GreaterOrEqual(t, len(js.Fields), len(ts.Columns), ts.Name)
		for i, c := range ts.Columns {
			f := js.Fields[i]
			assert.Equal(t, c.Name, f.Name, ts.Name)
			assert.Equal(t, jsType(c.Type), f.Type, "%s.%s as Arrow JS reads it", ts.Name, c.Name)
			assert.Equal(t, c.Nullable, f.Nullable, "%s.%s nullability", ts.Name, c.Name)
		}
	}

	require.Len(t, got["requests"].Rows, len(run.Requests))
	generations := 0
	for i, row := range got["requests"].Rows {
		want := run.Requests[i]
		blocks := []int32{}
		for _, b := range want.Intervention.Blocks {
			blocks = append(blocks, int32(b))
		}
		assert.Equal(t, blocks, ids(row["blocks"]), "row %d blocks", i)
		assert.Equal(t, want.InputIDs, ids(row["input_ids"]), "row %d input_ids", i)
		assert.Equal(t, want.GeneratedIDs, ids(row["generated_ids"]), "row %d generated_ids", i)
		if want.RequestType == plugins.KindGenerateTokens {
			generations++
			assert.Nil(t, row["loglikelihood"], "row %d: a generation has no log-likelihood", i)
			assert.Nil(t, row["context"], "row %d", i)
		} else {
			assert.Equal(t, want.LogLikelihood, row["loglikelihood"], "row %d", i)
		}
	}
	assert.Positive(t, generations)
	docs := got["docs"].Rows
	require.Len(t, docs, len(run.Docs))
	for i, row := range docs {
		if run.Docs[i].Gold < 0 {
			assert.Nil(t, row["gold"], "doc row %d", i)
		} else {
			assert.Equal(t, float64(run.Docs[i].Gold), row["gold"], "doc row %d", i)
		}
	}
}

func TestDuckDBReadsTheParquetExport(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, resultstest.Write(dir, "run-duck", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	for _, table := range []string{results.TableDocs, results.TableRequests} {
		require.NoError(t, results.ExportFile(filepath.Join(dir, table+".parquet"), dir, table, results.FormatParquet))
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	for _, q := range []string{readmeDuckDBMeans, readmeDuckDBRescore} {
		assert.True(t, strings.Contains(string(readme), q), "the README shows this query as the test runs it: %s", q)
	}
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	var got []struct {
		Types []string         `json:"types"`
		Rows  []map[string]any `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(node(t, "duckdb.mjs", abs, readmeDuckDBMeans, readmeDuckDBRescore,
		`select blocks, input_ids, loglikelihood, generated_ids, context from 'requests.parquet' limit 1`,
		`select gold, choice_loglikelihoods from 'docs.parquet' limit 1`), &got))
	require.Len(t, got, 4)

	run, err := results.Read(dir)
	require.NoError(t, err)
	sums, counts := map[string]float64{}, map[string]float64{}
	for _, d := range run.Docs {
		if d.Task == "memorization" {
			sums[d.Intervention.String()] += d.Metrics["exact_match"]
			counts[d.Intervention.String()]++
		}
	}
	var ivs []string
	for iv := range sums {
		ivs = append(ivs, iv)
	}
	sort.Strings(ivs)
	require.Len(t, got[0].Rows, len(ivs))
	for i, iv := range ivs {
		assert.Equal(t, iv, got[0].Rows[i]["intervention"])
		assert.InDelta(t, sums[iv]/counts[iv], got[0].Rows[i]["avg(exact_match)"], 1e-12, iv)
	}

	// The re-scoring query against the same computation in Go.
	type key struct {
		iv  string
		doc int
	}
	generated, full := map[key][]int32{}, map[key][]int32{}
	for _, r := range run.Requests {
		if r.Task == "memorization" {
			k := key{r.Intervention.String(), r.DocIndex}
			if r.RequestIndex == 0 {
				generated[k] = r.GeneratedIDs
			} else {
				full[k] = r.InputIDs
			}
		}
	}
	require.Len(t, got[1].Rows, len(generated))
	matches := 0
	for _, row := range got[1].Rows {
		doc, err := strconv.Atoi(fmt.Sprint(row["doc_index"])) // DuckDB's JSON gives BIGINT as a string
		require.NoError(t, err)
		k := key{row["intervention"].(string), doc}
		suffix := full[k][len(full[k])-len(generated[k]):]
		want := slices.Equal(suffix, generated[k])
		assert.Equal(t, want, row["exact_match"], "%v", k)
		if want {
			matches++
		}
	}
	assert.Positive(t, matches, "the synthetic run reproduces some suffixes")
	assert.Less(t, matches, len(generated), "and misses others")

	assert.Equal(t, []string{"INTEGER[]", "INTEGER[]", "DOUBLE", "INTEGER[]", "VARCHAR"}, got[2].Types, "requests columns in DuckDB")
	assert.Equal(t, []string{"BIGINT", "DOUBLE[]"}, got[3].Types, "docs columns in DuckDB")
}
