package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/harness/internal/testplugins"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// python is Debian's Python 3, which has python3-grpcio, python3-protobuf
// and python3-grpc-tools (.ci/run installs them).
const python = "/usr/bin/python3"

// pythonTaskPlugin installs examples/python-task/arc_easy_py.py as a task
// plugin in a fresh folder, with its stubs generated beside it, as
// `go tool task python-task` does in bin/. Without Debian's gRPC packages
// the test is skipped outside CI, and fails in CI.
func pythonTaskPlugin(t *testing.T) string {
	t.Helper()
	if err := exec.Command(python, "-c", "import grpc, google.protobuf, grpc_tools").Run(); err != nil {
		msg := "the Python task plugin needs " + python + " with python3-grpcio, python3-protobuf and python3-grpc-tools (apt-get install them)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; .ci/run installs them")
		}
		t.Skip(msg)
	}
	root := filepath.Join("..", "..", "..")
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root, "examples", "python-task", "arc_easy_py.py"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "memscope-task-arc_easy_py"), src, 0o755))
	gen := exec.Command(python, "-m", "grpc_tools.protoc", "-I", filepath.Join(root, "plugins", "proto"),
		"--python_out="+filepath.Join(dir, "gen"), "--grpc_python_out="+filepath.Join(dir, "gen"),
		"memscope/plugin/v1/plugin.proto", "goplugin/health.proto", "goplugin/controller.proto")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "gen"), 0o755))
	out, err := gen.CombinedOutput()
	require.NoError(t, err, string(out))
	return dir
}

// TestPythonTaskPluginMatchesGo runs the Python plugin (a task written
// against the public protocol, docs/plugin-protocol.md) and the Go
// arc_easy task it reimplements side by side on the embedded model, each
// answered by the backend (no cache), and checks the Python task's
// requests, per-document results and metrics against Go's.
func TestPythonTaskPluginMatchesGo(t *testing.T) {
	bin := realBins(t)
	plugDir := pythonTaskPlugin(t)
	data, err := filepath.Abs(filepath.Join("..", "..", "..", "tasks", "arc_easy", "data", "arc_easy_test.derived.jsonl"))
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, memscopeCmdIn(t, bin, nil, "run", "--plugin-dir", plugDir, "--tasks", "arc_easy,arc_easy_py",
		"--task-opt", "arc_easy_py.data="+data, "--interventions", "none", "--no-cache", "--threads", "2", "--out", out))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "2 cells (2 computed, 0 resumed)")

	run, err := results.Read(out)
	require.NoError(t, err)
	type key struct{ doc, req int }
	goDocs, pyDocs := map[int]results.DocRow{}, map[int]results.DocRow{}
	for _, d := range run.Docs {
		map[string]map[int]results.DocRow{"arc_easy": goDocs, "arc_easy_py": pyDocs}[d.Task][d.DocIndex] = d
	}
	require.Len(t, goDocs, 200, "the 200 ARC-Easy questions memscope ships")
	require.Len(t, pyDocs, len(goDocs))
	choices := 0
	for i, g := range goDocs {
		p := pyDocs[i]
		assert.Equal(t, g.Gold, p.Gold, "doc %d gold", i)
		assert.Equal(t, g.Prediction, p.Prediction, "doc %d prediction", i)
		assert.Equal(t, g.ChoiceLogLikelihoods, p.ChoiceLogLikelihoods, "doc %d choice log-likelihoods, bit for bit", i)
		assert.Equal(t, g.Metrics, p.Metrics, "doc %d acc and acc_norm", i)
		choices += len(g.ChoiceLogLikelihoods)
	}
	goReqs, pyReqs := map[key]results.RequestRow{}, map[key]results.RequestRow{}
	for _, q := range run.Requests {
		map[string]map[key]results.RequestRow{"arc_easy": goReqs, "arc_easy_py": pyReqs}[q.Task][key{q.DocIndex, q.RequestIndex}] = q
	}
	require.Len(t, goReqs, choices)
	require.Len(t, pyReqs, choices)
	for k, g := range goReqs {
		p := pyReqs[k]
		assert.Equal(t, g.Context, p.Context, "%v", k)
		assert.Equal(t, g.Continuation, p.Continuation, "%v", k)
		assert.Equal(t, g.ContextTokens, p.ContextTokens, "%v", k)
		assert.Equal(t, g.ContinuationTokens, p.ContinuationTokens, "%v", k)
	}
	metrics := map[string]results.MetricRow{}
	for _, m := range run.Metrics {
		metrics[m.Task+" "+m.Metric] = m
	}
	for _, name := range []string{"acc", "acc_norm"} {
		g, p := metrics["arc_easy "+name], metrics["arc_easy_py "+name]
		assert.Equal(t, 200, p.N)
		assert.Equal(t, g.Value, p.Value, name)
		assert.InDelta(t, g.Stderr, p.Stderr, 1e-15, name)
		assert.Equal(t, g.HigherIsBetter, p.HigherIsBetter, name)
	}
	assert.Equal(t, "1", metrics["arc_easy_py acc"].TaskVersion)
	assert.Equal(t, plugins.CategoryReasoning, metrics["arc_easy_py acc"].TaskCategory)
	t.Logf("arc_easy_py = arc_easy on %d documents (%d choices): acc %.4f, acc_norm %.4f",
		len(pyDocs), choices, metrics["arc_easy_py acc"].Value, metrics["arc_easy_py acc_norm"].Value)

	// A plugin's error reaches the user as the plugin worded it.
	r = runCLI(t, memscopeCmdIn(t, bin, nil, "run", "--plugin-dir", plugDir, "--tasks", "arc_easy_py",
		"--task-opt", "arc_easy_py.data=/nonexistent/arc.jsonl", "--interventions", "none", "--out", filepath.Join(t.TempDir(), "bad")))
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "arc_easy_py: cannot open data: [Errno 2] No such file or directory: '/nonexistent/arc.jsonl' (pass --task-opt arc_easy_py.data=PATH)")
}

// TestREADMEGoTaskPlugin builds the README's multiple-choice task
// (examples/go-task, taskkit.MCTask) and runs it through memscope with the
// real cpu backend.
func TestREADMEGoTaskPlugin(t *testing.T) {
	bin := realBins(t)
	plugDir := t.TempDir()
	require.NoError(t, testplugins.Build(plugDir, map[string]string{"memscope-task-capitals": "github.com/memscope/memscope/examples/go-task"}))
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, memscopeCmdIn(t, bin, []string{"MEMSCOPE_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache")},
		"run", "--plugin-dir", plugDir, "--tasks", "capitals", "--interventions", "attn-sc:5", "--out", out))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "2 cells (2 computed, 0 resumed)")
	assert.NotContains(t, r.stderr, "for the full set pass", "a task that ships all its data says nothing about a fuller set")

	run, err := results.Read(out)
	require.NoError(t, err)
	got := map[string]int{}
	for _, m := range run.Metrics {
		assert.Equal(t, 5, m.N, "%s %s", m.Intervention, m.Metric)
		got[m.Metric]++
	}
	assert.Equal(t, map[string]int{"acc": 2, "acc_norm": 2}, got)
	require.Len(t, run.Docs, 10)
	for _, d := range run.Docs {
		assert.Len(t, d.ChoiceLogLikelihoods, []int{4, 3, 4, 3, 4}[d.DocIndex], "doc %d", d.DocIndex)
	}
}
