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
	"github.com/memscope/memscope/tasks/taskkit"
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

// The official JSON lines keep the ctx_a/ctx_b split, so the context is
// lm-eval's exact ctx_a + " " + ctx_b.capitalize(), where the text format's
// heuristic would differ: ctx_b starting upper-case with later capitals
// (capitalize() lowers them), ctx_b holding ". ", an empty ctx_b (WikiHow).
func TestOfficialJSONLines(t *testing.T) {
	lines := `{"ind": 1, "activity_label": "Act", "ctx_a": "A man sits.", "ctx_b": "John Smith", "ctx": "A man sits. John Smith", "split": "val", "split_type": "indomain", "label": 2, "endings": ["stands.", "sits.", "x [title] jumps.", "runs."], "source_id": "activitynet~v_x"}
{"ind": 2, "activity_label": "Act", "ctx_a": "A man sits.", "ctx_b": "the man waves. he", "endings": ["a", "b", "c", "d"], "label": "1"}
{"ind": 3, "activity_label": "Home", "ctx_a": "[header] How to x [title] Do y. it works.", "ctx_b": "", "endings": ["a", "b", "c", "d"], "label": 0}
`
	p := filepath.Join(t.TempDir(), "hellaswag_val.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(lines), 0o644))
	reqs, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
	require.NoError(t, err)
	require.Len(t, reqs, 12)
	assert.Equal(t, plugins.LoglikelihoodRequest{Context: "Act: A man sits. John smith", Continuation: " x. jumps."}, *reqs[2].Loglikelihood)
	assert.Equal(t, "Act: A man sits. The man waves. he", reqs[4].Loglikelihood.Context)
	assert.Equal(t, "Home: How to x. Do y. it works.", reqs[8].Loglikelihood.Context)
	// The text format's heuristic gets each of these wrong.
	assert.Equal(t, "Act: A man sits. John Smith", capitalizeCtxB("Act: A man sits. John Smith"))
	assert.Equal(t, "Act: A man sits. the man waves. He", capitalizeCtxB("Act: A man sits. the man waves. he"))
	assert.Equal(t, "Home: How to x. Do y. It works.", capitalizeCtxB("Home: How to x. Do y. it works."))

	sc, err := newTask().Score(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}}, reqs, make12(-1))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 1, 0}, []int{sc.Docs[0].Gold, sc.Docs[1].Gold, sc.Docs[2].Gold})

	for bad, want := range map[string]string{
		`{"activity_label": "A", "ctx_a": "x", "ctx_b": "y", "endings": ["a", "b", "c"], "label": 0}`:      "3 endings, want 4",
		`{"activity_label": "A", "ctx_a": "x", "ctx_b": "y", "endings": ["a", "b", "c", "d"], "label": 4}`: `"label": 4 is not 0, 1, 2 or 3`,
		`{"activity_label": "A", "ctx_a": "x", "endings": ["a", "b", "c", "d"], "label": 0}`:               `missing field "ctx_b"`,
	} {
		require.NoError(t, os.WriteFile(p, []byte(bad+"\n"), 0o644))
		_, err := newTask().Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
		assert.ErrorContains(t, err, want)
		assert.ErrorContains(t, err, p+":1")
	}
}

func make12(ll float64) []plugins.Response {
	out := make([]plugins.Response, 12)
	for i := range out {
		out[i] = plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: ll - float64(i%4)}}
	}
	return out
}

// How many of the 10042 validation contexts the text format's ctx_b
// heuristic changes (capitalizes a last fragment), on the shared full file.
func TestHeuristicChangesOnTheFullSet(t *testing.T) {
	shared := os.Getenv("MEMSCOPE_SHARED_DIR")
	if shared == "" {
		shared = filepath.Join("..", "..", "..", "shared") // beside the repository, as CI lays it out
	}
	path := filepath.Join(shared, "data", "benchmarks", "hellaswag", "hellaswag_val_full.txt.bz2")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("the full HellaSwag text file is not at %s (shared/data beside the repository, as in CI; or set MEMSCOPE_SHARED_DIR)", path)
	}
	var ctxs []string
	require.NoError(t, taskkit.FileSource(path).EachLine(func(line int, text []byte) error {
		if (line-1)%linesPerDoc == 0 {
			ctxs = append(ctxs, string(text))
		}
		return nil
	}))
	require.Len(t, ctxs, 10042)
	changed := 0
	for _, c := range ctxs {
		if capitalizeCtxB(c) != c {
			changed++
		}
	}
	assert.Equal(t, 3243, changed)
}

// FuzzData: any HellaSwag data file (plain, gzip, bzip2) gives
// well-formed requests that score, or an error; never a panic.
func FuzzData(f *testing.F) {
	head := tasktest.Head(f, "data/hellaswag_val_full.txt.bz2", 1048576)
	f.Add(head)
	f.Add(tasktest.Gzip(head))
	f.Add([]byte("activity: ctx. lower\n9\na\nb\nc\nd\n"))
	f.Add([]byte("x\n0\na\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := tasktest.WriteFile(t, dir, "hellaswag.txt", data)
		tasktest.RequestsAndScore(t, newTask(), plugins.TaskOptions{Options: map[string]string{"data": p}, Seed: 1234})
	})
}
