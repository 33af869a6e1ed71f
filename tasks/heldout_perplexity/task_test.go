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

// writeNPY writes a 2-D <i4 array by hand (format 1.0).
func writeNPY(t *testing.T, rows [][]int32) string {
	t.Helper()
	dict := fmt.Sprintf("{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }", len(rows), len(rows[0]))
	pad := (64 - (10+len(dict)+1)%64) % 64
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	require.NoError(t, binary.Write(&buf, binary.LittleEndian, uint16(len(dict)+pad+1)))
	buf.WriteString(dict + strings.Repeat(" ", pad) + "\n")
	for _, r := range rows {
		require.NoError(t, binary.Write(&buf, binary.LittleEndian, r))
	}
	p := filepath.Join(t.TempDir(), "heldout.npy")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

func rolling(ll float64, n int) plugins.Response {
	lp := make([]float32, n)
	for i := range lp {
		lp[i] = float32(ll / float64(n))
	}
	return plugins.Response{Rolling: &plugins.RollingResult{LogLikelihood: ll, LogProbs: lp, Entropies: make([]float32, n), Greedy: make([]bool, n)}}
}

func byName(s plugins.Scores) map[string]plugins.MetricValue {
	m := map[string]plugins.MetricValue{}
	for _, v := range s.Metrics {
		m[v.Name] = v
	}
	return m
}

func TestTokenWindowsByHand(t *testing.T) {
	p := writeNPY(t, [][]int32{{5, 6, 7, 8}, {9, 10, 11, 12}, {1, 2, 3, 4}})
	opts := plugins.TaskOptions{Options: map[string]string{"data": p}, Limit: 2, Seed: 3}
	reqs, err := task{}.Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	assert.Equal(t, plugins.Request{DocIndex: 1, Rolling: &plugins.RollingRequest{IDs: []int32{9, 10, 11, 12}, ContextLen: 1}}, reqs[1])

	// 3 scored tokens each: NLL 3 and 6 -> 1 and 2 per token; overall 9/6.
	sc, err := task{}.Score(context.Background(), opts, reqs, []plugins.Response{rolling(-3, 3), rolling(-6, 3)})
	require.NoError(t, err)
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["nll_per_token"])
	assert.Equal(t, 2.0, sc.Docs[1].Metrics["nll_per_token"])
	m := byName(sc)
	require.Len(t, m, 2, "token windows report nll_per_token and perplexity only")
	assert.Equal(t, 1.5, m["nll_per_token"].Value)
	assert.InEpsilon(t, math.Exp(1.5), m["perplexity"].Value, 1e-15)
	assert.Equal(t, 2, m["perplexity"].N)
	// Two documents: resamples give 1, 1.5 or 2 (probabilities 1/4, 1/2,
	// 1/4), whose standard deviation is sqrt(1/8) ~ 0.354.
	assert.InDelta(t, math.Sqrt(1.0/8), m["nll_per_token"].Stderr, 0.01)

	again, err := task{}.Score(context.Background(), opts, reqs, []plugins.Response{rolling(-3, 3), rolling(-6, 3)})
	require.NoError(t, err)
	assert.Equal(t, m["perplexity"].Stderr, byName(again)["perplexity"].Stderr, "seeded")

	_, err = task{}.Score(context.Background(), opts, reqs, []plugins.Response{rolling(-3, 3), rolling(-6, 2)})
	assert.ErrorContains(t, err, "window 1: 2 log-probs for 3 scored tokens")
	_, err = task{}.Score(context.Background(), opts, reqs, []plugins.Response{rolling(-3, 3), {Loglikelihood: &plugins.LoglikelihoodResult{}}})
	assert.ErrorContains(t, err, "want a loglikelihood_rolling result, got loglikelihood")
}

func TestJSONLinesWindows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(`{"tokens": [1, 2]}`+"\n"+`{"tokens": [3, 4, 5]}`+"\n"), 0o644))
	reqs, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
	require.NoError(t, err)
	require.Len(t, reqs, 2)
	assert.Equal(t, []int32{3, 4, 5}, reqs[1].Rolling.IDs)
}

func TestTextFilesByHand(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.txt"), []byte("hello world\n"), 0o644)) // 12 bytes, 3 "words" (re.split leaves a trailing "")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a b c"), 0o644))         // 5 bytes, 3 words
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.md"), []byte("ignored"), 0o644))
	for _, data := range []string{dir, filepath.Join(dir, "*.txt")} {
		opts := plugins.TaskOptions{Options: map[string]string{"data": data, "bootstrap_iters": "0"}}
		reqs, err := task{}.Requests(context.Background(), opts)
		require.NoError(t, err)
		require.Len(t, reqs, 2)
		assert.Equal(t, plugins.RollingRequest{Text: "a b c", ContextLen: 0}, *reqs[0].Rolling, "files sorted by name")
		assert.Equal(t, "hello world\n", reqs[1].Rolling.Text)

		// NLL 2 over 2 tokens and 4 over 4 tokens: 1 per token.
		sc, err := task{}.Score(context.Background(), opts, reqs, []plugins.Response{rolling(-2, 2), rolling(-4, 4)})
		require.NoError(t, err)
		m := byName(sc)
		assert.Equal(t, 1.0, m["nll_per_token"].Value)
		assert.InEpsilon(t, math.E, m["perplexity"].Value, 1e-15)
		assert.InEpsilon(t, math.E, m["word_perplexity"].Value, 1e-15) // 6 nats / 6 words
		assert.InEpsilon(t, math.Exp(6.0/17), m["byte_perplexity"].Value, 1e-15)
		assert.InEpsilon(t, 6.0/17/math.Ln2, m["bits_per_byte"].Value, 1e-15)
		assert.True(t, math.IsNaN(m["bits_per_byte"].Stderr), "bootstrap_iters=0: no stderr")
		assert.False(t, m["bits_per_byte"].HigherIsBetter)
	}

	single := filepath.Join(dir, "a.txt")
	reqs, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": single}})
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	assert.Equal(t, "a b c", reqs[0].Rolling.Text)
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	latin1 := filepath.Join(dir, "latin1.txt")
	require.NoError(t, os.WriteFile(latin1, []byte("caf\xe9"), 0o644))
	noTxt := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(noTxt, 0o755))
	cases := []struct {
		name string
		opts map[string]string
		want string
	}{
		{"no data", map[string]string{}, "heldout_perplexity needs its data: pass --task-opt heldout_perplexity.data=PATH"},
		{"missing", map[string]string{"data": filepath.Join(dir, "nope.npy")}, "nope.npy: file not found"},
		{"empty text", map[string]string{"data": empty}, "empty.txt: empty document"},
		{"not utf-8", map[string]string{"data": latin1}, "latin1.txt: not UTF-8 text (at byte 3)"},
		{"no txt in dir", map[string]string{"data": noTxt}, "no .txt files in the directory"},
		{"glob no match", map[string]string{"data": filepath.Join(dir, "*.text")}, "no files match"},
		{"one-token windows", map[string]string{"data": writeNPY(t, [][]int32{{1}, {2}})}, "heldout.npy row 0: 1 tokens; a window needs at least 2"},
		{"bad iters", map[string]string{"data": empty, "bootstrap_iters": "-1"}, "bootstrap_iters=-1: must be at least 0"},
		{"huge iters", map[string]string{"data": empty, "bootstrap_iters": "100000000000"}, "bootstrap_iters=100000000000: too large; give at most 1000000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := task{}.Requests(context.Background(), plugins.TaskOptions{Options: c.opts})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// FuzzData: any held-out data (token windows as .npy or JSON lines, or a
// text document) gives well-formed requests that score, or an error.
func FuzzData(f *testing.F) {
	npyData, err := os.ReadFile("../../harness/embedded/memorizer/heldout.npy")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(npyData[:min(len(npyData), 4096)], "heldout.npy")
	f.Add([]byte(`{"tokens": [1, 2, 3]}`+"\n"), "w.jsonl")
	f.Add([]byte("It was the best of times.\nIt was the worst of times.\n"), "book.txt")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		switch name {
		case "heldout.npy", "w.jsonl", "book.txt":
		default:
			name = "book.txt"
		}
		p := tasktest.WriteFile(t, dir, name, data)
		tasktest.RequestsAndScore(t, task{}, plugins.TaskOptions{Options: map[string]string{"data": p, "bootstrap_iters": "20"}, Seed: 1})
	})
}
