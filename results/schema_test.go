package results_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// The schema document is generated from the code; the writer builds its
// Arrow schemas from the same definitions (TestSchemaColumnsAndMetadata
// checks the files against them), so the document cannot drift.
func TestSchemaDocumentIsGenerated(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, results.RenderSchema(&buf, results.SchemaMarkdown))
	path := filepath.Join("..", "docs", "results-schema.md")
	if *update {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), buf.String(),
		"docs/results-schema.md differs from the code: run `go test ./results -update` (or memscope results schema --format markdown > docs/results-schema.md)")
}

func TestSchemaRenderings(t *testing.T) {
	var text, js bytes.Buffer
	require.NoError(t, results.RenderSchema(&text, results.SchemaText))
	assert.Contains(t, text.String(), "format version 2")
	assert.Contains(t, text.String(), "generated_ids  list<int32>, nullable")
	require.NoError(t, results.RenderSchema(&js, results.SchemaJSON))
	var doc struct {
		FormatVersion int `json:"format_version"`
		Tables        []struct {
			Name    string `json:"name"`
			Columns []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Nullable bool   `json:"nullable"`
			} `json:"columns"`
		} `json:"tables"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	assert.Equal(t, results.FormatVersion, doc.FormatVersion)
	require.Len(t, doc.Tables, 4)
	assert.Equal(t, "blocks", doc.Tables[0].Columns[7].Name)
	assert.Equal(t, "list<int32>", doc.Tables[0].Columns[7].Type)
	assert.ErrorContains(t, results.RenderSchema(&js, "yaml"), `unknown schema format "yaml"`)
}

// testdata/v1-run was written by memscope's format-version-1 writer: a
// baseline and attn-sc:1,3 cell each of memorization (generate and rolling
// requests over ids) and piqa (loglikelihood requests).
func TestReadsFormatVersion1(t *testing.T) {
	dir := filepath.Join("testdata", "v1-run")
	run, err := results.Read(dir)
	require.NoError(t, err)
	assert.Equal(t, "v1-fixture", run.Info.RunID)
	require.Len(t, run.Metrics, 4)
	assert.Equal(t, "attn-sc:1,3", run.Metrics[2].Intervention.String())
	assert.Equal(t, []int{1, 3}, run.Metrics[2].Intervention.Blocks)
	require.Len(t, run.Docs, 6)
	assert.Equal(t, []float64{-4, -2}, run.Docs[2].ChoiceLogLikelihoods)
	require.Len(t, run.Requests, 12)
	gen := run.Requests[0]
	assert.Equal(t, plugins.KindGenerateTokens, gen.RequestType)
	assert.True(t, math.IsNaN(gen.LogLikelihood))
	assert.Nil(t, gen.InputIDs, "version 1 stored no token ids")
	assert.Nil(t, gen.GeneratedIDs)
	assert.Equal(t, " b", run.Requests[5].Continuation)

	// Export and Diff read it too.
	var buf bytes.Buffer
	require.NoError(t, results.Export(&buf, dir, results.TableMetrics, results.FormatCSV))
	assert.Contains(t, buf.String(), `"attn-sc:1,3",attn-short-circuit,"1,3",memorization`, "exported as it was written")
	diffs, err := results.Diff(dir, dir, 0)
	require.NoError(t, err)
	assert.Empty(t, diffs)
}

// rewriteVersion copies the tables of src into a new directory with
// memscope.format_version set to version.
func rewriteVersion(t *testing.T, src, version string) string {
	t.Helper()
	dst := t.TempDir()
	for _, file := range []string{results.MetricsFile, results.DocsFile, results.RequestsFile} {
		f, err := os.Open(filepath.Join(src, file))
		require.NoError(t, err)
		r, err := ipc.NewFileReader(f)
		require.NoError(t, err)
		md := r.Schema().Metadata()
		keys, vals := md.Keys(), append([]string(nil), md.Values()...)
		vals[md.FindKey("memscope.format_version")] = version
		meta := arrow.NewMetadata(keys, vals)
		schema := arrow.NewSchema(r.Schema().Fields(), &meta)
		out, err := os.Create(filepath.Join(dst, file))
		require.NoError(t, err)
		w, err := ipc.NewFileWriter(out, ipc.WithSchema(schema))
		require.NoError(t, err)
		for i := range r.NumRecords() {
			rec, err := r.Record(i)
			require.NoError(t, err)
			require.NoError(t, w.Write(arrowRecord(schema, rec)))
		}
		require.NoError(t, w.Close())
		require.NoError(t, out.Close())
		r.Close()
		f.Close()
	}
	return dst
}

func arrowRecord(schema *arrow.Schema, rec arrow.Record) arrow.Record {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = rec.Column(i)
	}
	return array.NewRecord(schema, cols, rec.NumRows())
}

func TestRefusesNewerFormatVersions(t *testing.T) {
	dir := t.TempDir()
	writeSynthetic(t, dir)
	_, err := results.Read(rewriteVersion(t, dir, "2"))
	require.NoError(t, err, "the rewrite itself keeps the tables readable")

	_, err = results.Read(rewriteVersion(t, dir, "3"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "written by a newer memscope (results format version 3; this memscope reads versions 1 to 2): upgrade memscope")
	_, err = results.ReadMetrics(rewriteVersion(t, dir, "banana"))
	assert.ErrorContains(t, err, `results format version "banana" is not one memscope knows`)
	_, err = results.ReadInfo(rewriteVersion(t, dir, "0"))
	assert.ErrorContains(t, err, `results format version "0" is not one memscope knows`)
}
