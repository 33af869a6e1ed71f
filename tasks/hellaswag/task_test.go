package main

import (
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit/tasktest"
)

func TestMatchesLMEvalReference(t *testing.T) {
	refs := tasktest.LoadRefDocs(t, "testdata/taskref.jsonl.gz")
	summary := tasktest.LoadSummary(t, "testdata/taskref_summary.json")
	opts := plugins.TaskOptions{Limit: len(refs)}
	task := newTask()
	reqs := tasktest.CheckRequests(t, task, opts, refs)
	tasktest.CheckScores(t, task, opts, reqs, refs, summary)
}

func TestEmbeddedHas200Docs(t *testing.T) {
	reqs, err := newTask().Requests(context.Background(), plugins.TaskOptions{})
	require.NoError(t, err)
	assert.Len(t, reqs, 800)
	assert.Equal(t, 199, reqs[799].DocIndex)
}

func TestPreprocess(t *testing.T) {
	cases := map[string]string{
		"  Plain text.  ":                 "Plain text.",
		"How to cook [title] Boil water.": "How to cook. Boil water.",
		"a [step] b [substeps] c":         "a b c",
		"keep [x] and [y] apart":          "keep and apart",
		"three   spaces":                  "three  spaces", // one pass of "  " -> " ", like Python
		"unclosed [bracket stays":         "unclosed [bracket stays",
		// Stripping comes first, so removing a leading tag leaves a space (as in lm-eval).
		"[header] How to do it [title] Start.": " How to do it. Start.",
	}
	for in, want := range cases {
		assert.Equal(t, want, preprocess(in), "preprocess(%q)", in)
	}
}

func TestCapitalizeCtxB(t *testing.T) {
	assert.Equal(t, "Roof: A man is on a roof. He", capitalizeCtxB("Roof: A man is on a roof. he"))
	// str.capitalize lowercases the rest, as lm-eval's ctx_b.capitalize() does.
	assert.Equal(t, "X: A lady walks. The lady and bob", capitalizeCtxB("X: A lady walks. the lady and Bob"))
	assert.Equal(t, "X: One. Two starts upper", capitalizeCtxB("X: One. Two starts upper"))
	assert.Equal(t, "X: no period here", capitalizeCtxB("X: no period here"))
}

func TestFullFileFormats(t *testing.T) {
	doc := "Act: A man sits. he\n2\nstands.\nsits.\nx [title] jumps.\nruns.\n"
	want := []plugins.LoglikelihoodRequest{
		{Context: "Act: A man sits. He", Continuation: " stands."},
		{Context: "Act: A man sits. He", Continuation: " sits."},
		{Context: "Act: A man sits. He", Continuation: " x. jumps."},
		{Context: "Act: A man sits. He", Continuation: " runs."},
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "h.txt")
	require.NoError(t, os.WriteFile(plain, []byte(doc+doc), 0o644))
	gz := filepath.Join(dir, "h.txt.gz")
	f, err := os.Create(gz)
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	_, err = zw.Write([]byte(doc + doc))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	for _, p := range []string{plain, gz} {
		opts := plugins.TaskOptions{Options: map[string]string{"data": p}, Docs: []plugins.DocRange{{First: 1, Last: 5}}}
		reqs, err := newTask().Requests(context.Background(), opts)
		require.NoError(t, err, p)
		require.Len(t, reqs, 4, p)
		for i := range want {
			assert.Equal(t, want[i], *reqs[i].Loglikelihood)
			assert.Equal(t, 1, reqs[i].DocIndex)
		}
		ll := func(x float64) plugins.Response {
			return plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: x}}
		}
		// Choice lengths 7, 5, 9, 5; ll -4.2, -3, -4.5, -10: acc picks
		// "sits." (-3), acc_norm "x. jumps." (-0.5/char against -0.6, -0.6,
		// -2), the gold.
		sc, err := newTask().Score(context.Background(), opts, reqs, []plugins.Response{ll(-4.2), ll(-3), ll(-4.5), ll(-10)})
		require.NoError(t, err)
		assert.Equal(t, 2, sc.Docs[0].Gold)
		assert.Equal(t, 1, sc.Docs[0].Prediction)
		assert.Equal(t, 0.0, sc.Docs[0].Metrics["acc"])
		assert.Equal(t, 1.0, sc.Docs[0].Metrics["acc_norm"])
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"bad gold", "Act: ctx\nx\na\nb\nc\nd\n", `h.txt:2: gold label "x" is not 0, 1, 2 or 3`},
		{"gold out of range", "Act: ctx\n4\na\nb\nc\nd\n", `h.txt:2: gold label "4"`},
		{"short", "Act: ctx\n1\na\nb\nc\nd\nAct: ctx\n1\na\n", "h.txt:7: incomplete document: the file has 9 lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "h.txt")
			require.NoError(t, os.WriteFile(p, []byte(c.data), 0o644))
			_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
