package taskkit

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

func TestSelectDocs(t *testing.T) {
	sel := func(n int, opts plugins.TaskOptions) []int {
		t.Helper()
		got, err := SelectDocs("t", n, opts)
		require.NoError(t, err)
		return got
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4}, sel(5, plugins.TaskOptions{}))
	assert.Equal(t, []int{0, 1}, sel(5, plugins.TaskOptions{Limit: 2}))
	assert.Equal(t, []int{0, 1, 2, 3, 4}, sel(5, plugins.TaskOptions{Limit: 20}))
	// Ranges are inclusive, unioned, sorted; the limit applies after them.
	assert.Equal(t, []int{1, 2, 3, 7}, sel(10, plugins.TaskOptions{Docs: []plugins.DocRange{{First: 7, Last: 7}, {First: 1, Last: 3}, {First: 2, Last: 2}}}))
	assert.Equal(t, []int{1, 2}, sel(10, plugins.TaskOptions{Limit: 2, Docs: []plugins.DocRange{{First: 7, Last: 7}, {First: 1, Last: 3}}}))
	// Past the end: clipped.
	assert.Equal(t, []int{8, 9}, sel(10, plugins.TaskOptions{Docs: []plugins.DocRange{{First: 8, Last: 100}}}))

	_, err := SelectDocs("t", 10, plugins.TaskOptions{Docs: []plugins.DocRange{{First: 10, Last: 20}}})
	assert.ErrorContains(t, err, "t: no documents selected: the data has 10 documents (0-9)")
	_, err = SelectDocs("t", 10, plugins.TaskOptions{Docs: []plugins.DocRange{{First: 5, Last: 4}}})
	assert.ErrorContains(t, err, "bad document range 5-4")
	_, err = SelectDocs("t", 10, plugins.TaskOptions{Limit: -1})
	assert.ErrorContains(t, err, "limit -1 is negative")
	_, err = SelectDocs("t", 0, plugins.TaskOptions{})
	assert.ErrorContains(t, err, "the data has no documents")
}

func TestOptions(t *testing.T) {
	specs := []plugins.OptionInfo{{Name: "data"}, {Name: "n", Default: "32"}, {Name: "group_by"}}
	_, err := ParseOptions("mem", specs, map[string]string{"prefix": "1", "zz": "2"})
	assert.ErrorContains(t, err, `mem: unknown option "prefix", "zz" (valid options: data, n, group_by; set them with --task-opt mem.KEY=VALUE)`)

	o, err := ParseOptions("mem", specs, map[string]string{"group_by": " a, b ,,c"})
	require.NoError(t, err)
	n, err := o.Int("n", 1)
	require.NoError(t, err)
	assert.Equal(t, 32, n)
	assert.False(t, o.IsSet("n"))
	assert.Equal(t, []string{"a", "b", "c"}, o.List("group_by"))
	assert.Nil(t, o.List("data"))

	o, err = ParseOptions("mem", specs, map[string]string{"n": "0"})
	require.NoError(t, err)
	_, err = o.Int("n", 1)
	assert.ErrorContains(t, err, "mem.n=0: must be at least 1")
	o, _ = ParseOptions("mem", specs, map[string]string{"n": "3.5"})
	_, err = o.Int("n", 1)
	assert.ErrorContains(t, err, `mem.n="3.5": not an integer`)
}

func TestArgmaxIsNumpys(t *testing.T) {
	assert.Equal(t, 1, Argmax([]float64{-2, -1, -1}))
	assert.Equal(t, 0, Argmax([]float64{-1, -1}))
	assert.Equal(t, 1, Argmax([]float64{0, math.NaN(), 5, math.NaN()}))
	assert.Equal(t, 2, Argmax([]float64{math.Inf(-1), -1e300, 0}))
	assert.Equal(t, 0, Argmax([]float64{math.Inf(-1), math.Inf(-1)}))
	assert.Equal(t, -1, Argmax(nil))
}

func TestMeanAndStderr(t *testing.T) {
	xs := []float64{1, 0, 1, 1}
	assert.Equal(t, 0.75, Mean(xs))
	// sample variance: (3*(0.25)^2 + 0.75^2)/3 = 0.25; stderr sqrt(0.25)/2.
	assert.InDelta(t, 0.25, MeanStderr(xs), 1e-15)
	assert.True(t, math.IsNaN(MeanStderr([]float64{1})))
	assert.True(t, math.IsNaN(MeanStderr(nil)))
	assert.True(t, math.IsNaN(Mean(nil)))
	m := MeanMetric("acc", true, xs)
	assert.Equal(t, plugins.MetricValue{Name: "acc", Value: 0.75, Stderr: 0.25, N: 4, HigherIsBetter: true}, m)
}

func TestBootstrapMatchesTheMeansStandardError(t *testing.T) {
	// For the mean, the bootstrap stderr converges to the population-sd
	// standard error sqrt((n-1)/n) * sample sd / sqrt(n) (lm-eval notes the
	// same bias); with 20000 resamples it is within a few percent.
	xs := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4}
	mean := func(s []int) float64 {
		t := 0.0
		for _, j := range s {
			t += xs[j]
		}
		return t / float64(len(s))
	}
	n := float64(len(xs))
	want := MeanStderr(xs) * math.Sqrt((n-1)/n)
	got := BootstrapStderr(len(xs), 20000, 42, mean)
	assert.InEpsilon(t, want, got, 0.03)
	assert.Equal(t, got, BootstrapStderr(len(xs), 20000, 42, mean), "same seed, same result")
	assert.NotEqual(t, got, BootstrapStderr(len(xs), 20000, 43, mean), "another seed, another draw")
	assert.True(t, math.IsNaN(BootstrapStderr(len(xs), 0, 42, mean)))
	assert.True(t, math.IsNaN(BootstrapStderr(0, 100, 42, mean)))
}

func TestPythonStringHelpers(t *testing.T) {
	assert.Equal(t, "a b", PyStrip("\x1c\t a b \u00a0\u3000\n"))
	assert.Equal(t, "He said", PyCapitalize("he said"))
	assert.Equal(t, "The lady and bob", PyCapitalize("the lady and Bob"))
	assert.Equal(t, "Élan", PyCapitalize("éLAN"))
	assert.Equal(t, "", PyCapitalize(""))
	assert.Equal(t, 4, CharLen("café"))
	assert.Equal(t, 1, PyWordCount(""))
	assert.Equal(t, 2, PyWordCount("a b"))
	assert.Equal(t, 2, PyWordCount("a \t\n b"))
	assert.Equal(t, 3, PyWordCount(" a b"), "a leading space makes an empty first word, as re.split does")
	assert.Equal(t, 4, PyWordCount(" a b "))
}

func TestEachLineAndJSON(t *testing.T) {
	fsys := fstest.MapFS{"d.jsonl": {Data: []byte("{\"a\": \"x\", \"n\": 3, \"k\": 1.5, \"b\": true}\r\n\n{\"a\": 2}\n")}}
	src := EmbeddedSource(fsys, "d.jsonl", "t/d.jsonl")
	var lines []int
	err := src.EachJSONLine(func(line int, obj JSONObject) error {
		lines = append(lines, line)
		if line == 1 {
			s, err := obj.String("a")
			require.NoError(t, err)
			assert.Equal(t, "x", s)
			n, err := obj.Int("n")
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			for key, want := range map[string]string{"a": "x", "n": "3", "k": "1.5", "b": "true"} {
				got, err := obj.Label(key)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			return nil
		}
		_, err := obj.String("a")
		return err
	})
	assert.EqualError(t, err, `embedded:t/d.jsonl:3: field "a": want a string, got 2`)
	assert.Equal(t, []int{1, 3}, lines, "blank lines are skipped but counted")

	src = EmbeddedSource(fstest.MapFS{"d": {Data: []byte("null\n")}}, "d", "d")
	assert.ErrorContains(t, src.EachJSONLine(func(int, JSONObject) error { return nil }), "d:1: bad JSON line")
	src = EmbeddedSource(fstest.MapFS{"d": {Data: []byte("[1]\n")}}, "d", "d")
	assert.ErrorContains(t, src.EachJSONLine(func(int, JSONObject) error { return nil }), "d:1: bad JSON line (want one JSON object per line)")
}

func TestSourceNotFoundAndBadGzip(t *testing.T) {
	dir := t.TempDir()
	_, err := FileSource(filepath.Join(dir, "missing.jsonl")).Open()
	assert.ErrorContains(t, err, "missing.jsonl: file not found")
	p := filepath.Join(dir, "bad.gz")
	require.NoError(t, os.WriteFile(p, []byte{0x1f, 0x8b, 0, 0}, 0o644))
	_, err = FileSource(p).ReadAll()
	assert.ErrorContains(t, err, "bad.gz")
}

func TestCheckExchange(t *testing.T) {
	want := []plugins.Request{
		{DocIndex: 0, Index: 0, Loglikelihood: &plugins.LoglikelihoodRequest{Context: "c", Continuation: " a"}},
		{DocIndex: 0, Index: 1, Rolling: &plugins.RollingRequest{IDs: []int32{1, 2}, ContextLen: 1}},
		{DocIndex: 3, Index: 0, Generate: &plugins.GenerateRequest{Prefix: []int32{5}, NewTokens: 2}},
	}
	good := []plugins.Response{{Loglikelihood: &plugins.LoglikelihoodResult{}}, {Rolling: &plugins.RollingResult{}}, {Generate: &plugins.GenerateResult{}}}
	require.NoError(t, CheckExchange("t", want, want, good))

	other := append([]plugins.Request(nil), want...)
	other[1] = plugins.Request{DocIndex: 0, Index: 1, Rolling: &plugins.RollingRequest{IDs: []int32{1, 3}, ContextLen: 1}}
	assert.ErrorContains(t, CheckExchange("t", want, other, good), "t: request 1 (doc 0, index 1) is not the request these options make")

	bad := []plugins.Response{{Loglikelihood: &plugins.LoglikelihoodResult{}}, {Generate: &plugins.GenerateResult{}}, {Generate: &plugins.GenerateResult{}}}
	assert.ErrorContains(t, CheckExchange("t", want, want, bad), "response 1 (doc 0, index 1): want a loglikelihood_rolling result, got generate_tokens")
	empty := []plugins.Response{{Loglikelihood: &plugins.LoglikelihoodResult{}}, {}, {Generate: &plugins.GenerateResult{}}}
	assert.ErrorContains(t, CheckExchange("t", want, want, empty), "want a loglikelihood_rolling result, got none")
	assert.ErrorContains(t, CheckExchange("t", want, want, good[:2]), "t: score got 2 responses for 3 requests")
}

// JSON null must not pass for "" or 0: a gold of null would silently
// become choice 0, a null token id the id 0.
func TestJSONNullIsNotAValue(t *testing.T) {
	obj := JSONObject{}
	require.NoError(t, json.Unmarshal([]byte(`{"s": null, "a": ["x", null], "n": null, "an": null}`), &obj))
	_, err := obj.String("s")
	assert.EqualError(t, err, `field "s": want a string, got null`)
	_, err = obj.Strings("a")
	assert.EqualError(t, err, `field "a": element 1 is null, want a string`)
	_, err = obj.Strings("an")
	assert.EqualError(t, err, `field "an": want an array of strings, got null`)
	_, err = obj.Int("n")
	assert.EqualError(t, err, `field "n": want an integer, got null`)
	label, err := obj.Label("n")
	require.NoError(t, err)
	assert.Equal(t, "null", label, "null is a fine group label")

	src := EmbeddedSource(fstest.MapFS{"t.jsonl": {Data: []byte("{\"tokens\": [5, 6]}\n{\"tokens\": [5, null, 7]}\n")}}, "t.jsonl", "t.jsonl")
	_, err = LoadTokenRows(src)
	assert.EqualError(t, err, `embedded:t.jsonl:2: field "tokens": the id at position 1 is null`)
}

func TestEachLineBOMAndInvalidUTF8(t *testing.T) {
	// A byte-order mark before the first record is dropped, so the first
	// JSON line parses and the first text line is not changed.
	src := EmbeddedSource(fstest.MapFS{"d.jsonl": {Data: []byte("\ufeff{\"a\": \"x\"}\r\n{\"a\": \"\ufeffy\"}\n")}}, "d.jsonl", "d.jsonl")
	var got []string
	require.NoError(t, src.EachJSONLine(func(_ int, obj JSONObject) error {
		s, err := obj.String("a")
		got = append(got, s)
		return err
	}))
	assert.Equal(t, []string{"x", "\ufeffy"}, got, "only a leading BOM of the file goes")

	// Invalid UTF-8 is an error, not silently replaced by U+FFFD.
	src = EmbeddedSource(fstest.MapFS{"d.jsonl": {Data: []byte("{\"a\": \"x\"}\n{\"a\": \"caf\xe9\"}\n")}}, "d.jsonl", "d.jsonl")
	err := src.EachJSONLine(func(int, JSONObject) error { return nil })
	assert.EqualError(t, err, "embedded:d.jsonl:2: not UTF-8 text (invalid byte 11 of the line); convert the file to UTF-8")
	src = EmbeddedSource(fstest.MapFS{"d.txt": {Data: []byte("ok\n\xff\n")}}, "d.txt", "d.txt")
	err = src.EachLine(func(int, []byte) error { return nil })
	assert.ErrorContains(t, err, "embedded:d.txt:2: not UTF-8 text")
}

// Integer options are bounded before any arithmetic: values past int64,
// past MaxIntOption or past a stated maximum are refused with the bound.
func TestIntOptionBounds(t *testing.T) {
	specs := []plugins.OptionInfo{{Name: "n", Default: "32"}, {Name: "bootstrap_iters", Default: "10"}}
	for _, c := range []struct{ n, want string }{
		{"9223372036854775807", "mem.n=9223372036854775807: too large; give at most 1073741824"},
		{"99999999999999999999", "mem.n=99999999999999999999: too large; give at most 1073741824"},
		{"-99999999999999999999", "mem.n=-99999999999999999999: too large"},
		{"1073741825", "mem.n=1073741825: too large; give at most 1073741824"},
	} {
		o, err := ParseOptions("mem", specs, map[string]string{"n": c.n})
		require.NoError(t, err)
		_, err = o.Int("n", 0)
		assert.ErrorContains(t, err, c.want)
	}
	o, _ := ParseOptions("mem", specs, map[string]string{"n": "1073741824"})
	n, err := o.Int("n", 0)
	require.NoError(t, err)
	assert.Equal(t, MaxIntOption, n)

	for _, c := range []struct{ v, want string }{
		{"-5", "mem.bootstrap_iters=-5: must be at least 0"},
		{"100000000000", "mem.bootstrap_iters=100000000000: too large; give at most 1000000"},
		{"9223372036854775807", "too large; give at most 1000000"},
	} {
		o, _ := ParseOptions("mem", specs, map[string]string{"bootstrap_iters": c.v})
		_, err := o.BootstrapIters()
		assert.ErrorContains(t, err, c.want)
	}
	o, _ = ParseOptions("mem", specs, nil)
	iters, err := o.BootstrapIters()
	require.NoError(t, err)
	assert.Equal(t, 10, iters)
}

// A .npy whose magic is wrong was read as JSON lines and reported as "not
// UTF-8 text".
func TestNPYWithWrongMagic(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ids.npy", "IDS.NPY", "ids.npy.gz"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("\x92NUMPY\x01\x00v\x00{'descr': '<i8', \xff\xfe"), 0o644))
		_, err := LoadTokenRows(FileSource(p))
		assert.ErrorContains(t, err, name+": not a .npy file: it does not start with numpy's magic bytes")
		assert.NotContains(t, err.Error(), "UTF-8")
	}
}

func TestDatasetThatShipsAllItsData(t *testing.T) {
	fsys := fstest.MapFS{"data/q.jsonl": {Data: []byte("{}\n")}}
	part := Dataset{Task: "t", FileName: "q.jsonl", FS: fsys, EmbeddedPath: "data/q.jsonl", EmbeddedDocs: 200, FullDocs: 1000, Where: "from the benchmark's site"}
	assert.Equal(t, "embedded:t/q.jsonl (first 200 of 1000 documents; for all of them pass --task-opt t.data=PATH to q.jsonl, from the benchmark's site)", part.Describe())
	assert.Contains(t, part.DataOption().Help, "path to the full q.jsonl (1000 documents")

	all := part
	all.EmbeddedDocs, all.FullDocs, all.Where = 30, 0, "JSON lines {...}"
	assert.Equal(t, "embedded:t/q.jsonl (all 30 documents; --task-opt t.data=PATH reads another file: JSON lines {...})", all.Describe())
	assert.Equal(t, "path to another q.jsonl (JSON lines {...}); default: the embedded 30 documents", all.DataOption().Help)
	all.FullDocs = 30
	assert.Contains(t, all.Describe(), "all 30 documents", "FullDocs equal to EmbeddedDocs: the whole set too")
	src := all.Source(Options{}, true)
	b, err := src.ReadAll()
	require.NoError(t, err)
	assert.Equal(t, "{}\n", string(b))
}
