package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

func names(ivs []intervention.Intervention) []string {
	out := make([]string, len(ivs))
	for i, iv := range ivs {
		out[i] = iv.String()
	}
	return out
}

func TestExpandBaselineOnceEachDedupe(t *testing.T) {
	specs, err := ParseInterventions([]string{"attn-sc:each", "none;attn-sc:2 attn-zero:1,3", "attn-sc:1-2", "none"})
	require.NoError(t, err)
	ivs, err := Expand(specs, 4)
	require.NoError(t, err)
	assert.Equal(t, []string{"none", "attn-sc:0", "attn-sc:1", "attn-sc:2", "attn-sc:3", "attn-zero:1,3", "attn-sc:1,2"}, names(ivs))

	// No specs: the baseline alone.
	ivs, err = Expand(nil, 4)
	require.NoError(t, err)
	assert.Equal(t, []string{"none"}, names(ivs))

	// "all" and the explicit full range are the same intervention.
	specs, err = ParseInterventions([]string{"attn-sc:all", "attn-sc:0-2"})
	require.NoError(t, err)
	ivs, err = Expand(specs, 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"none", "attn-sc:0-2"}, names(ivs))
}

func TestExpandPerModelLayerCount(t *testing.T) {
	specs, err := ParseInterventions([]string{"attn-zero:each"})
	require.NoError(t, err)
	small, err := Expand(specs, 2)
	require.NoError(t, err)
	big, err := Expand(specs, 6)
	require.NoError(t, err)
	assert.Len(t, small, 3)
	assert.Len(t, big, 7)

	specs, err = ParseInterventions([]string{"attn-sc:20-23"})
	require.NoError(t, err)
	_, err = Expand(specs, 6)
	require.ErrorContains(t, err, "block 20 does not exist")
}

func TestParseInterventionsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{" ; ", "empty"},
		{"attn-sc", "say which blocks"},
		{"attn-sc:", "say which blocks"},
		{"attn-xx:3", "unknown kind"},
		{"attn-sc:3-1", "runs backwards"},
		{"attn-sc:a", "not a block number"},
		{"none:3", "takes no blocks"},
		{"attn-sc:1,,3", "not a block number"},
	} {
		_, err := ParseInterventions([]string{tc.in})
		require.Error(t, err, tc.in)
		assert.ErrorContains(t, err, tc.want, tc.in)
		assert.ErrorContains(t, err, "--interventions", tc.in)
	}
}

func TestCellsOrder(t *testing.T) {
	ivs := []intervention.Intervention{intervention.Baseline(), intervention.New(intervention.AttnShortCircuit, 1)}
	cells := Cells("m", ivs, []string{"a", "b"})
	require.Len(t, cells, 4)
	assert.Equal(t, "model m, intervention none, task a", cells[0].String())
	assert.Equal(t, "model m, intervention attn-sc:1, task b", cells[3].String())
}

func TestParseDocRanges(t *testing.T) {
	rs, err := ParseDocRanges("60-119")
	require.NoError(t, err)
	assert.Equal(t, []plugins.DocRange{{First: 60, Last: 119}}, rs)

	rs, err = ParseDocRanges(" 20, 0-9,10-12 ,5,30-39")
	require.NoError(t, err)
	assert.Equal(t, []plugins.DocRange{{First: 0, Last: 12}, {First: 20, Last: 20}, {First: 30, Last: 39}}, rs)
	assert.Equal(t, "0-12,20,30-39", FormatDocRanges(rs))

	rs, err = ParseDocRanges("")
	require.NoError(t, err)
	assert.Nil(t, rs)

	for _, bad := range []string{"a", "5-", "-5", "9-3", "1,,2", "1.5", "3-x"} {
		_, err := ParseDocRanges(bad)
		require.Error(t, err, bad)
		assert.ErrorContains(t, err, "--docs", bad)
	}
}

func TestParseTasks(t *testing.T) {
	ts, err := ParseTasks([]string{"memorization, lambada_openai", "piqa,memorization"})
	require.NoError(t, err)
	assert.Equal(t, []string{"memorization", "lambada_openai", "piqa"}, ts)
	_, err = ParseTasks([]string{" , "})
	assert.ErrorContains(t, err, "--tasks is empty")
	_, err = ParseTasks([]string{"pi/qa"})
	assert.ErrorContains(t, err, "not a task name")
	ts, err = ParseTasks(nil)
	require.NoError(t, err)
	assert.Empty(t, ts)
}

func TestParseTaskOptions(t *testing.T) {
	tasks := []string{"memorization", "heldout_perplexity"}
	opts, err := ParseTaskOptions([]string{
		"memorization.data=canaries.npy",
		"memorization.prefix_len=32",
		"heldout_perplexity.data=a=b,c.npy", // values may hold '=' and ','
	}, tasks)
	require.NoError(t, err)
	assert.Equal(t, TaskOptions{
		"memorization":       {"data": "canaries.npy", "prefix_len": "32"},
		"heldout_perplexity": {"data": "a=b,c.npy"},
	}, opts)

	for _, tc := range []struct{ in, want string }{
		{"memorization.prefix_len", "write TASK.KEY=VALUE"},
		{"prefix_len=32", "must be TASK.KEY"},
		{".prefix_len=32", "must be TASK.KEY"},
		{"memorization.=32", "must be TASK.KEY"},
		{"piqa.x=1", `task "piqa" is not in --tasks`},
	} {
		_, err := ParseTaskOptions([]string{tc.in}, tasks)
		require.Error(t, err, tc.in)
		assert.ErrorContains(t, err, tc.want, tc.in)
	}
	_, err = ParseTaskOptions([]string{"memorization.data=a", "memorization.data=b"}, tasks)
	assert.ErrorContains(t, err, "set twice")
}

func TestModels(t *testing.T) {
	root := t.TempDir()
	t.Setenv(EnvHFHubCache, filepath.Join(root, "empty-hub"))
	mk := func(rel string) string {
		d := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "config.json"), []byte("{}"), 0o644))
		return d
	}
	a := mk("a/pythia")
	b := mk("b/pythia")
	c := mk("hub/models--EleutherAI--pythia-160m/snapshots/0123456789abcdef0123456789abcdef01234567")
	d := mk("solo")

	ms, err := Models([]string{d, c, d + "/", a, b})
	require.NoError(t, err)
	require.Len(t, ms, 4)
	assert.Equal(t, "solo", ms[0].Name)
	assert.Equal(t, SourceFolder, ms[0].Source)
	assert.Equal(t, "folder "+d, ms[0].Describe())
	assert.Equal(t, "EleutherAI/pythia-160m@0123456", ms[1].Name, "a snapshot no ref names: its short commit")
	assert.Equal(t, a, ms[2].Name) // clash: full path
	assert.Equal(t, b, ms[3].Name)

	// Labels name models; a label may not name two.
	ms, err = Models([]string{"mine=" + a, "theirs=" + b})
	require.NoError(t, err)
	assert.Equal(t, []string{"mine", "theirs"}, []string{ms[0].Name, ms[1].Name})
	assert.True(t, ms[0].Labelled)
	assert.Equal(t, a, ms[0].Dir)
	_, err = Models([]string{"x=" + a, "x=" + b})
	assert.ErrorContains(t, err, "the label x is given to two models")
	_, err = Models([]string{"=" + a})
	assert.ErrorContains(t, err, "write NAME=FOLDER")

	_, err = Models([]string{filepath.Join(root, "missing")})
	assert.ErrorContains(t, err, "no such folder")
	_, err = Models([]string{filepath.Join(a, "config.json")})
	assert.ErrorContains(t, err, "not a folder")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "empty"), 0o755))
	_, err = Models([]string{filepath.Join(root, "empty")})
	assert.ErrorContains(t, err, "no config.json")
}

// hubCache lays out a Hugging Face cache as huggingface_hub does:
// refs/<revision> holds the commit, snapshots/<commit> the files.
func hubCache(t *testing.T, repo string, refs map[string]string, commits ...string) string {
	t.Helper()
	cache := t.TempDir()
	folder := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	for ref, commit := range refs {
		p := filepath.Join(folder, "refs", filepath.FromSlash(ref))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(commit), 0o644)) // no newline, as huggingface_hub writes it
	}
	for _, c := range commits {
		d := filepath.Join(folder, "snapshots", c)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "config.json"), []byte("{}"), 0o644))
	}
	return cache
}

func TestModelsFromTheHubCache(t *testing.T) {
	main := strings.Repeat("a", 40)
	step := "b1c2d3e4f5" + strings.Repeat("0", 30)
	orphan := "c0ffee" + strings.Repeat("1", 34)
	cache := hubCache(t, "EleutherAI/pythia-1.4b", map[string]string{"main": main, "step143000": step, "refs/pr/1": step}, main, step, orphan)
	t.Setenv(EnvHFHubCache, cache)
	t.Chdir(t.TempDir()) // no folder of that name here

	ms, err := Models([]string{"EleutherAI/pythia-1.4b", "EleutherAI/pythia-1.4b@step143000", "EleutherAI/pythia-1.4b@c0ffee1", "old=EleutherAI/pythia-1.4b@" + main})
	require.NoError(t, err)
	require.Len(t, ms, 3, "main and the commit main points at are one folder")
	assert.Equal(t, "EleutherAI/pythia-1.4b", ms[0].Name)
	assert.Equal(t, filepath.Join(cache, "models--EleutherAI--pythia-1.4b", "snapshots", main), ms[0].Dir)
	assert.Equal(t, SourceHub, ms[0].Source)
	assert.Equal(t, main, ms[0].Commit)
	assert.Equal(t, "hub EleutherAI/pythia-1.4b@main (commit aaaaaaa)", ms[0].Describe())
	assert.Equal(t, "EleutherAI/pythia-1.4b@step143000", ms[1].Name)
	assert.Equal(t, step, ms[1].Commit)
	assert.Equal(t, "EleutherAI/pythia-1.4b@c0ffee1", ms[2].Name)
	assert.Equal(t, orphan, ms[2].Commit, "a unique commit prefix finds its snapshot")

	// A snapshot folder given by path is named by the ref that points at it.
	ms, err = Models([]string{filepath.Join(cache, "models--EleutherAI--pythia-1.4b", "snapshots", step)})
	require.NoError(t, err)
	assert.Equal(t, "EleutherAI/pythia-1.4b@refs/pr/1", ms[0].Name, "refs sort: refs/pr/1 before step143000")
	assert.Equal(t, SourceFolder, ms[0].Source)
	ms, err = Models([]string{filepath.Join(cache, "models--EleutherAI--pythia-1.4b", "snapshots", main)})
	require.NoError(t, err)
	assert.Equal(t, "EleutherAI/pythia-1.4b", ms[0].Name, "main wins")

	// HF_HOME/hub when HF_HUB_CACHE is not set.
	t.Setenv(EnvHFHubCache, "")
	home := t.TempDir()
	require.NoError(t, os.Rename(cache, filepath.Join(home, "hub")))
	t.Setenv(EnvHFHome, home)
	ms, err = Models([]string{"EleutherAI/pythia-1.4b@step143000"})
	require.NoError(t, err)
	assert.Equal(t, step, ms[0].Commit)

	// What is missing says how to get it.
	_, err = Models([]string{"EleutherAI/pythia-12b"})
	assert.ErrorContains(t, err, "--model EleutherAI/pythia-12b: no such folder, and EleutherAI/pythia-12b is not in the Hugging Face cache ("+filepath.Join(home, "hub")+"; set HF_HUB_CACHE or HF_HOME to look elsewhere): download it first with `huggingface-cli download EleutherAI/pythia-12b --include config.json '*.safetensors*' 'tokenizer*'`")
	_, err = Models([]string{"EleutherAI/pythia-1.4b@step1000"})
	assert.ErrorContains(t, err, "revision step1000 is not in the Hugging Face cache (cached: main, refs/pr/1, step143000, c0ffee1): download it first with `huggingface-cli download EleutherAI/pythia-1.4b --revision step1000")
	_, err = Models([]string{"EleutherAI/pythia-1.4b@../../etc"})
	assert.ErrorContains(t, err, "no such folder")
}
