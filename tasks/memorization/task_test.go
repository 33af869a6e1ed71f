package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit/tasktest"
)

// writeNPY writes a 2-D little-endian integer array by hand (format
// version 1.0 or 2.0), independent of internal/npy's writer.
func writeNPY(t *testing.T, version byte, descr string, rows [][]int64) string {
	t.Helper()
	cols := 0
	if len(rows) > 0 {
		cols = len(rows[0])
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, len(rows), cols)
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY")
	buf.WriteByte(version)
	buf.WriteByte(0)
	pre := 10
	if version == 2 {
		pre = 12
	}
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1
	if version == 1 {
		require.NoError(t, binary.Write(&buf, binary.LittleEndian, uint16(hlen)))
	} else {
		require.NoError(t, binary.Write(&buf, binary.LittleEndian, uint32(hlen)))
	}
	buf.WriteString(dict + strings.Repeat(" ", pad) + "\n")
	for _, r := range rows {
		for _, v := range r {
			switch descr {
			case "<u2":
				require.NoError(t, binary.Write(&buf, binary.LittleEndian, uint16(v)))
			case "<i4":
				require.NoError(t, binary.Write(&buf, binary.LittleEndian, int32(v)))
			case "<i8":
				require.NoError(t, binary.Write(&buf, binary.LittleEndian, v))
			case "<f4":
				require.NoError(t, binary.Write(&buf, binary.LittleEndian, float32(v)))
			default:
				t.Fatalf("descr %s", descr)
			}
		}
	}
	p := filepath.Join(t.TempDir(), "data.npy")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func ids(xs ...int32) []int32 { return xs }

func gen(xs ...int32) plugins.Response {
	return plugins.Response{Generate: &plugins.GenerateResult{IDs: xs, Entropies: make([]float32, len(xs))}}
}

func roll(ents ...float32) plugins.Response {
	return plugins.Response{Rolling: &plugins.RollingResult{Entropies: ents, LogProbs: make([]float32, len(ents)), Greedy: make([]bool, len(ents))}}
}

func metricsByName(s plugins.Scores) map[string]plugins.MetricValue {
	m := map[string]plugins.MetricValue{}
	for _, v := range s.Metrics {
		m[v.Name] = v
	}
	return m
}

var threeRows = [][]int64{
	{9, 1, 2, 3, 4, 5, 9, 9},
	{9, 11, 12, 13, 14, 15, 9, 9},
	{9, 21, 22, 23, 24, 25, 9, 9},
}

func TestRequestsAndScoresByHand(t *testing.T) {
	for _, descr := range []string{"<u2", "<i4", "<i8"} {
		for _, version := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s v%d", descr, version), func(t *testing.T) {
				p := writeNPY(t, version, descr, threeRows)
				opts := plugins.TaskOptions{Options: map[string]string{"data": p, "start": "1", "prefix_len": "2", "suffix_len": "3"}}
				reqs, err := task{}.Requests(context.Background(), opts)
				require.NoError(t, err)
				require.Len(t, reqs, 6)
				assert.Equal(t, plugins.Request{DocIndex: 1, Index: 0, Generate: &plugins.GenerateRequest{Prefix: ids(11, 12), NewTokens: 3}}, reqs[2])
				assert.Equal(t, plugins.Request{DocIndex: 1, Index: 1, Rolling: &plugins.RollingRequest{IDs: ids(11, 12, 13, 14, 15), ContextLen: 2}}, reqs[3])

				// Row 0 reproduced exactly; row 1 two of three (the middle one
				// wrong); row 2 none. Entropies are exact binary fractions.
				resps := []plugins.Response{
					gen(3, 4, 5), roll(0.5, 0.25, 0.125),
					gen(13, 0, 15), roll(1, 1, 1),
					gen(0, 0, 0), roll(2, 0.5, 4),
				}
				sc, err := task{}.Score(context.Background(), opts, reqs, resps)
				require.NoError(t, err)
				require.Len(t, sc.Docs, 3)
				assert.Equal(t, map[string]float64{"exact_match": 1, "token_accuracy": 1, "completion_entropy": 0.875}, sc.Docs[0].Metrics)
				assert.Equal(t, map[string]float64{"exact_match": 0, "token_accuracy": 2.0 / 3, "completion_entropy": 3}, sc.Docs[1].Metrics)
				assert.Equal(t, map[string]float64{"exact_match": 0, "token_accuracy": 0, "completion_entropy": 6.5}, sc.Docs[2].Metrics)
				assert.Equal(t, -1, sc.Docs[0].Gold)

				m := metricsByName(sc)
				// exact_match: mean 1/3; sample variance ((2/3)^2 + 2(1/3)^2)/2 = 1/3,
				// stderr sqrt(1/3)/sqrt(3) = 1/3.
				assert.InDelta(t, 1.0/3, m["exact_match"].Value, 1e-15)
				assert.InDelta(t, 1.0/3, m["exact_match"].Stderr, 1e-15)
				assert.Equal(t, 3, m["exact_match"].N)
				// token_accuracy: mean (1 + 2/3 + 0)/3 = 5/9; deviations 4/9, 1/9, -5/9:
				// variance (16+1+25)/81/2 = 7/27, stderr sqrt(7/81) = sqrt(7)/9.
				assert.InDelta(t, 5.0/9, m["token_accuracy"].Value, 1e-15)
				assert.InDelta(t, math.Sqrt(7)/9, m["token_accuracy"].Stderr, 1e-15)
				// completion_entropy: mean (0.875 + 3 + 6.5)/3 = 10.375/3.
				assert.InDelta(t, 10.375/3, m["completion_entropy"].Value, 1e-15)
				assert.False(t, m["completion_entropy"].HigherIsBetter)
				// extracted: one exact match, stderr 3 * 1/3.
				assert.Equal(t, 1.0, m["extracted"].Value)
				assert.InDelta(t, 1.0, m["extracted"].Stderr, 1e-15)
			})
		}
	}
}

func TestDefaultLayout32Plus32(t *testing.T) {
	row := make([]int64, 70)
	for i := range row {
		row[i] = int64(100 + i)
	}
	p := writeNPY(t, 1, "<i4", [][]int64{row})
	reqs, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	assert.Len(t, reqs[0].Generate.Prefix, 32)
	assert.Equal(t, int32(100), reqs[0].Generate.Prefix[0])
	assert.Equal(t, 32, reqs[0].Generate.NewTokens)
	assert.Len(t, reqs[1].Rolling.IDs, 64)
	assert.Equal(t, int32(163), reqs[1].Rolling.IDs[63])
	assert.Equal(t, 32, reqs[1].Rolling.ContextLen)
}

func TestSaTMLLayout(t *testing.T) {
	// 4 rows x 200 uint16 ids: 100 pre-prefix | 50 prefix | 50 suffix, ids
	// up to 50256 (GPT-2 vocabulary).
	rows := make([][]int64, 4)
	for r := range rows {
		rows[r] = make([]int64, 200)
		for c := range rows[r] {
			rows[r][c] = int64((r*1000 + c*251) % 50257)
		}
	}
	p := writeNPY(t, 1, "<u2", rows)
	opts := plugins.TaskOptions{Options: map[string]string{"data": p, "start": "100", "prefix_len": "50", "suffix_len": "50"}, Limit: 3}
	reqs, err := task{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 6)
	for r := 0; r < 3; r++ {
		g, rl := reqs[2*r].Generate, reqs[2*r+1].Rolling
		require.Len(t, g.Prefix, 50)
		assert.Equal(t, int32(rows[r][100]), g.Prefix[0])
		assert.Equal(t, int32(rows[r][149]), g.Prefix[49])
		assert.Equal(t, 50, g.NewTokens)
		require.Len(t, rl.IDs, 100)
		assert.Equal(t, int32(rows[r][199]), rl.IDs[99])
		assert.Equal(t, 50, rl.ContextLen)
	}
	// Row 0: exact; row 1: the last token wrong; row 2: all wrong.
	suffix := func(r int) []int32 { return reqs[2*r+1].Rolling.IDs[50:] }
	s1 := append([]int32(nil), suffix(1)...)
	s1[49]++
	flat := func(v float32) []float32 {
		e := make([]float32, 50)
		for i := range e {
			e[i] = v
		}
		return e
	}
	resps := []plugins.Response{
		gen(suffix(0)...), roll(flat(0.25)...),
		gen(s1...), roll(flat(0.5)...),
		gen(make([]int32, 50)...), roll(flat(1)...),
	}
	sc, err := task{}.Score(context.Background(), opts, reqs, resps)
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"exact_match": 1, "token_accuracy": 1, "completion_entropy": 12.5}, sc.Docs[0].Metrics)
	assert.Equal(t, map[string]float64{"exact_match": 0, "token_accuracy": 0.98, "completion_entropy": 25}, sc.Docs[1].Metrics)
	assert.Equal(t, 0.0, sc.Docs[2].Metrics["exact_match"])
	assert.Equal(t, 50.0, sc.Docs[2].Metrics["completion_entropy"])
	assert.Equal(t, 1.0, metricsByName(sc)["extracted"].Value)
}

const groupedJSONL = `{"tokens": [1, 2, 3, 4], "duplicates": 8, "kind": "planted", "text": "a"}
{"tokens": [5, 6, 7, 8], "duplicates": 0, "kind": "control"}

{"tokens": [9, 10, 11, 12, 13], "duplicates": 32, "kind": "planted"}
{"tokens": [14, 15, 16, 17], "duplicates": 0, "kind": "control"}
`

func TestJSONLinesAndGroupBy(t *testing.T) {
	p := writeFile(t, "c.jsonl", groupedJSONL)
	opts := plugins.TaskOptions{Options: map[string]string{"data": p, "prefix_len": "2", "suffix_len": "2", "group_by": "kind,duplicates"}}
	reqs, err := task{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 8)
	assert.Equal(t, ids(9, 10), reqs[4].Generate.Prefix, "a blank line is not a sample")
	assert.Equal(t, ids(9, 10, 11, 12), reqs[5].Rolling.IDs, "extra tokens past prefix+suffix are ignored")

	// Samples 0 and 2 (planted) extracted; 1 half right; 3 wrong.
	resps := []plugins.Response{
		gen(3, 4), roll(1, 1),
		gen(7, 0), roll(2, 2),
		gen(11, 12), roll(0.5, 0.5),
		gen(0, 0), roll(4, 4),
	}
	sc, err := task{}.Score(context.Background(), opts, reqs, resps)
	require.NoError(t, err)
	var names []string
	for _, m := range sc.Metrics {
		names = append(names, m.Name)
	}
	assert.Equal(t, []string{
		"exact_match", "token_accuracy", "completion_entropy", "extracted",
		"exact_match[kind=control]", "token_accuracy[kind=control]", "completion_entropy[kind=control]", "extracted[kind=control]",
		"exact_match[kind=planted]", "token_accuracy[kind=planted]", "completion_entropy[kind=planted]", "extracted[kind=planted]",
		"exact_match[duplicates=0]", "token_accuracy[duplicates=0]", "completion_entropy[duplicates=0]", "extracted[duplicates=0]",
		"exact_match[duplicates=8]", "token_accuracy[duplicates=8]", "completion_entropy[duplicates=8]", "extracted[duplicates=8]",
		"exact_match[duplicates=32]", "token_accuracy[duplicates=32]", "completion_entropy[duplicates=32]", "extracted[duplicates=32]",
	}, names, "groups in option order, values sorted numerically when numeric")
	m := metricsByName(sc)
	assert.Equal(t, 0.5, m["exact_match"].Value)
	assert.Equal(t, 1.0, m["exact_match[kind=planted]"].Value)
	assert.Equal(t, 2, m["exact_match[kind=planted]"].N)
	assert.Equal(t, 0.0, m["exact_match[kind=planted]"].Stderr)
	assert.Equal(t, 2.0, m["extracted[kind=planted]"].Value)
	assert.Equal(t, 0.25, m["token_accuracy[kind=control]"].Value)
	assert.Equal(t, 6.0, m["completion_entropy[kind=control]"].Value)
	assert.Equal(t, 1.0, m["exact_match[duplicates=8]"].Value)
	assert.Equal(t, 1, m["exact_match[duplicates=8]"].N)
	assert.True(t, math.IsNaN(m["exact_match[duplicates=8]"].Stderr), "stderr of one sample is undefined")

	// Limit and ranges keep the data-file indices.
	opts.Docs = []plugins.DocRange{{First: 2, Last: 3}}
	reqs, err = task{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	assert.Equal(t, 2, reqs[0].DocIndex)
	assert.Equal(t, 3, reqs[2].DocIndex)
}

func TestBadInput(t *testing.T) {
	good := writeNPY(t, 1, "<i4", threeRows)
	cases := []struct {
		name string
		opts map[string]string
		want string
	}{
		{"no data", map[string]string{}, "memorization needs its data: pass --task-opt memorization.data=PATH"},
		{"missing file", map[string]string{"data": filepath.Join(t.TempDir(), "x.npy")}, "x.npy: file not found"},
		{"float npy", map[string]string{"data": writeNPY(t, 1, "<f4", threeRows)}, "dtype <f4, want integer token ids"},
		{"too few columns", map[string]string{"data": good, "start": "4", "prefix_len": "2", "suffix_len": "3"}, "data.npy row 0: 8 tokens, too few columns for start 4 + prefix_len 2 + suffix_len 3 = 9"},
		{"group_by on npy", map[string]string{"data": good, "group_by": "kind"}, "group_by needs JSON-lines data"},
		{"bad prefix_len", map[string]string{"data": good, "prefix_len": "0"}, "memorization.prefix_len=0: must be at least 1"},
		{"bad start", map[string]string{"data": good, "start": "-1"}, "memorization.start=-1: must be at least 0"},
		{"unknown option", map[string]string{"data": good, "prefix": "3"}, `unknown option "prefix"`},
		{"bad json", map[string]string{"data": writeFile(t, "b.jsonl", "{\"tokens\": [1,2]}\n{tokens}\n")}, "b.jsonl:2: bad JSON line"},
		{"no tokens", map[string]string{"data": writeFile(t, "b.jsonl", "{\"ids\": [1,2]}\n")}, `b.jsonl:1: missing field "tokens"`},
		{"float tokens", map[string]string{"data": writeFile(t, "b.jsonl", "{\"tokens\": [1, 2.5]}\n")}, `b.jsonl:1: field "tokens": want an array of integer token ids`},
		{"negative token", map[string]string{"data": writeFile(t, "b.jsonl", "{\"tokens\": [1, -2]}\n")}, `b.jsonl:1: field "tokens": token id -2 at position 1`},
		{"short row", map[string]string{"data": writeFile(t, "b.jsonl", "{\"tokens\": [1,2,3,4]}\n{\"tokens\": [1,2,3]}\n"), "prefix_len": "2", "suffix_len": "2"}, "b.jsonl:2: 3 tokens, too few columns"},
		{"missing group field", map[string]string{"data": writeFile(t, "b.jsonl", "{\"tokens\": [1,2,3,4], \"kind\": \"a\"}\n{\"tokens\": [1,2,3,4]}\n"), "prefix_len": "2", "suffix_len": "2", "group_by": "kind"}, `b.jsonl:2: group_by: missing field "kind"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: c.opts})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	t.Run("3-D npy", func(t *testing.T) {
		// Hand-patch the shape of a valid file to 3-D with the same element count.
		b, err := os.ReadFile(good)
		require.NoError(t, err)
		b = bytes.Replace(b, []byte("(3, 8), } "), []byte("(3,4,2), }"), 1)
		p := writeFile(t, "d.npy", string(b))
		_, err = task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "want a 2-D array")
	})

	t.Run("bad responses", func(t *testing.T) {
		opts := plugins.TaskOptions{Options: map[string]string{"data": good, "start": "1", "prefix_len": "2", "suffix_len": "3"}, Limit: 1}
		reqs, err := task{}.Requests(context.Background(), opts)
		require.NoError(t, err)
		_, err = task{}.Score(context.Background(), opts, reqs, []plugins.Response{gen(3, 4), roll(1, 1, 1)})
		assert.ErrorContains(t, err, "sample 0: the backend generated 2 tokens, want 3")
		_, err = task{}.Score(context.Background(), opts, reqs, []plugins.Response{gen(3, 4, 5), roll(1, 1)})
		assert.ErrorContains(t, err, "sample 0: the rolling score has 2 entropies, want one per suffix token (3)")
		_, err = task{}.Score(context.Background(), opts, reqs, []plugins.Response{roll(1, 1, 1), gen(3, 4, 5)})
		assert.ErrorContains(t, err, "response 0 (doc 0, index 0): want a generate_tokens result, got loglikelihood_rolling")
		_, err = task{}.Score(context.Background(), opts, reqs, []plugins.Response{gen(3, 4, 5)})
		assert.ErrorContains(t, err, "score got 1 responses for 2 requests")
	})
}

// Huge start/prefix_len/suffix_len are refused with their bound: their sum
// wrapped negative and sliced out of range (a panic).
func TestHugeLengthsAreRefused(t *testing.T) {
	p := writeNPY(t, 1, "<i4", threeRows)
	for _, opt := range []string{"start", "prefix_len", "suffix_len"} {
		for _, v := range []string{"9223372036854775807", "9223372036854775000", "4611686018427387904"} {
			_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p, opt: v}})
			assert.ErrorContains(t, err, "memorization."+opt+"="+v+": too large; give at most 1073741824")
		}
	}
	_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{
		"data": p, "start": "1073741824", "prefix_len": "1073741824", "suffix_len": "1073741824"}})
	assert.ErrorContains(t, err, "too few columns for start 1073741824 + prefix_len 1073741824 + suffix_len 1073741824 = 3221225472")
}

// A generation whose distribution went NaN (a non-finite forward pass)
// scores NaN matches, not a silent 0 (or a lucky 1).
func TestNaNGenerationScoresNaN(t *testing.T) {
	p := writeNPY(t, 1, "<i4", threeRows)
	opts := plugins.TaskOptions{Options: map[string]string{"data": p, "start": "1", "prefix_len": "2", "suffix_len": "3"}}
	reqs, err := task{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	nanGen := gen(3, 4, 5)
	nanGen.Generate.Entropies[1] = float32(math.NaN())
	resps := []plugins.Response{nanGen, roll(1, 1, 1), gen(13, 14, 15), roll(1, 1, 1), gen(0, 0, 0), roll(1, 1, 1)}
	sc, err := task{}.Score(context.Background(), opts, reqs, resps)
	require.NoError(t, err)
	assert.True(t, math.IsNaN(sc.Docs[0].Metrics["exact_match"]))
	assert.True(t, math.IsNaN(sc.Docs[0].Metrics["token_accuracy"]))
	assert.Equal(t, 1.0, sc.Docs[1].Metrics["exact_match"])
	assert.True(t, math.IsNaN(metricsByName(sc)["exact_match"].Value), "the mean over a NaN document is NaN: visible, filterable")
}

// preset=paper is the paper's script: the first 32 tokens prompt, the
// whole rest of each row is asked for, end-of-text suppressed; preset=satml
// is the extraction challenge's 100 | 50 | 50 layout; explicit options win.
func TestPresetsRestAndSuppressEOS(t *testing.T) {
	rows := make([][]int64, 2)
	for r := range rows {
		rows[r] = make([]int64, 200)
		for c := range rows[r] {
			rows[r][c] = int64((r*1000 + c*251) % 50257)
		}
	}
	p := writeNPY(t, 1, "<u2", rows)
	ask := func(opts map[string]string) []plugins.Request {
		t.Helper()
		opts["data"] = p
		reqs, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: opts})
		require.NoError(t, err)
		return reqs
	}
	paper := ask(map[string]string{"preset": "paper"})
	require.Len(t, paper, 4)
	g := paper[0].Generate
	assert.Len(t, g.Prefix, 32)
	assert.Equal(t, int32(rows[0][0]), g.Prefix[0])
	assert.Equal(t, 168, g.NewTokens, "the rest of the 200-column row")
	assert.True(t, g.SuppressEOS, "min_new_tokens = max_new_tokens: end-of-text can never be generated")
	assert.Len(t, paper[1].Rolling.IDs, 200)
	assert.Equal(t, 32, paper[1].Rolling.ContextLen)

	satml := ask(map[string]string{"preset": "satml"})
	g = satml[0].Generate
	assert.Equal(t, int32(rows[0][100]), g.Prefix[0])
	assert.Len(t, g.Prefix, 50)
	assert.Equal(t, 50, g.NewTokens)
	assert.False(t, g.SuppressEOS)

	mixed := ask(map[string]string{"preset": "paper", "suppress_eos": "false", "prefix_len": "50"})
	assert.Len(t, mixed[0].Generate.Prefix, 50)
	assert.Equal(t, 150, mixed[0].Generate.NewTokens)
	assert.False(t, mixed[0].Generate.SuppressEOS, "an explicit option beats the preset")

	rest := ask(map[string]string{"start": "100", "prefix_len": "50", "suffix_len": "rest"})
	assert.Equal(t, 50, rest[0].Generate.NewTokens)
	assert.False(t, ask(map[string]string{})[0].Generate.SuppressEOS, "the default decodes plainly")

	// Scoring checks the exchange, the flag included.
	opts := plugins.TaskOptions{Options: map[string]string{"data": p, "preset": "paper"}}
	resps := []plugins.Response{gen(paper[1].Rolling.IDs[32:]...), roll(make([]float32, 168)...), gen(make([]int32, 168)...), roll(make([]float32, 168)...)}
	sc, err := task{}.Score(context.Background(), opts, paper, resps)
	require.NoError(t, err)
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["exact_match"])
	plain := append([]plugins.Request(nil), paper...)
	plain[0].Generate = &plugins.GenerateRequest{Prefix: g0(paper).Prefix, NewTokens: 168}
	_, err = task{}.Score(context.Background(), opts, plain, resps)
	assert.Error(t, err, "requests without the flag are not the ones this configuration makes")

	for opt, want := range map[string]string{
		"preset=draft":       "unknown preset (use paper or satml)",
		"suppress_eos=maybe": "give true or false",
		"suffix_len=most":    "(or rest: every column after the prefix)",
	} {
		k, v, _ := strings.Cut(opt, "=")
		_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p, k: v}})
		assert.ErrorContains(t, err, want, opt)
	}
	short := writeNPY(t, 1, "<u2", [][]int64{make([]int64, 32)})
	_, err = task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": short, "preset": "paper"}})
	assert.ErrorContains(t, err, "none left after start 0 + prefix_len 32 for suffix_len=rest")
}

func g0(reqs []plugins.Request) *plugins.GenerateRequest { return reqs[0].Generate }

// FuzzData: any token data (.npy or JSON lines, grouped by a field) gives
// well-formed requests that score, or an error; never a panic.
func FuzzData(f *testing.F) {
	canaries := tasktest.Head(f, "../../harness/embedded/memorizer/canaries.jsonl", 4000)
	npyData, err := os.ReadFile("../../harness/embedded/memorizer/canaries.npy")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(canaries, false)
	f.Add(npyData[:min(len(npyData), 4096)], true)
	f.Add([]byte(`{"tokens": [1, 2, 3], "kind": null}`), false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, isNPY bool) {
		opts := map[string]string{"prefix_len": "2", "suffix_len": "1"}
		if isNPY {
			opts["data"] = tasktest.WriteFile(t, dir, "data.npy", data)
		} else {
			opts["data"] = tasktest.WriteFile(t, dir, "data.jsonl", data)
			opts["group_by"] = "kind"
		}
		tasktest.RequestsAndScore(t, task{}, plugins.TaskOptions{Options: opts})
	})
}
