package arc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

// write puts content in a fresh arc.jsonl and returns its path.
func write(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "arc.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestRequestsAndScoresByHand(t *testing.T) {
	p := write(t, `{"question": "2+2?", "choices": ["four", "three", "five!"], "gold": 0}`+"\n")
	task := New(Dataset("arc_test", "arc.jsonl", fstest.MapFS{}, 1), "ARC test")
	opts := plugins.TaskOptions{Options: map[string]string{"data": p}}
	reqs, err := task.Requests(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, reqs, 3)
	for i, c := range []string{" four", " three", " five!"} {
		assert.Equal(t, "Question: 2+2?\nAnswer:", reqs[i].Loglikelihood.Context)
		assert.Equal(t, c, reqs[i].Loglikelihood.Continuation)
		assert.Equal(t, i, reqs[i].Index)
	}
	// ll: -4.4 (four, 4 chars: -1.1/char), -4.0 (three, 5 chars: -0.8),
	// -4.0 (five!, 5 chars: -0.8). acc: argmax picks "three" (first of the
	// tied -4.0), wrong. acc_norm: "three" again (first of the tied -0.8).
	ll := func(x float64) plugins.Response {
		return plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: x}}
	}
	sc, err := task.Score(context.Background(), opts, reqs, []plugins.Response{ll(-4.4), ll(-4), ll(-4)})
	require.NoError(t, err)
	assert.Equal(t, 1, sc.Docs[0].Prediction)
	assert.Equal(t, 0.0, sc.Docs[0].Metrics["acc"])
	assert.Equal(t, 0.0, sc.Docs[0].Metrics["acc_norm"])
	// ll -4.0 (four: -1.0/char), -4.5 (three: -0.9/char), -6.0 (five!:
	// -1.2/char): acc picks "four" (right), acc_norm "three" (wrong).
	sc, err = task.Score(context.Background(), opts, reqs, []plugins.Response{ll(-4), ll(-4.5), ll(-6)})
	require.NoError(t, err)
	assert.Equal(t, 0, sc.Docs[0].Prediction)
	assert.Equal(t, 1.0, sc.Docs[0].Metrics["acc"])
	assert.Equal(t, 0.0, sc.Docs[0].Metrics["acc_norm"])
}

func TestBadInput(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"gold too big", `{"question": "q", "choices": ["a", "b"], "gold": 2}`, "arc.jsonl:1: gold 2 out of range for 2 choices"},
		{"gold negative", `{"question": "q", "choices": ["a", "b"], "gold": -1}`, "arc.jsonl:1: gold -1 out of range"},
		{"one choice", `{"question": "q", "choices": ["a"], "gold": 0}`, "arc.jsonl:1: 1 choices"},
		{"choices not list", `{"question": "q", "choices": "a", "gold": 0}`, `arc.jsonl:1: field "choices": want an array of strings`},
		{"gold as string", `{"question": "q", "choices": ["a", "b"], "gold": "A"}`, `arc.jsonl:1: field "gold": want an integer`},
		{"no question", `{"choices": ["a", "b"], "gold": 0}`, `arc.jsonl:1: missing field "question"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, c.data+"\n")
			task := New(Dataset("arc_test", "arc.jsonl", fstest.MapFS{}, 1), "ARC test")
			_, err := task.Requests(context.Background(), plugins.TaskOptions{Options: map[string]string{"data": p}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
