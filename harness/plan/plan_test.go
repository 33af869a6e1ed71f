package plan

import (
	"os"
	"path/filepath"
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
	assert.Equal(t, "EleutherAI/pythia-160m", ms[1].Name)
	assert.Equal(t, a, ms[2].Name) // clash: full path
	assert.Equal(t, b, ms[3].Name)

	_, err = Models([]string{filepath.Join(root, "missing")})
	assert.ErrorContains(t, err, "no such folder")
	_, err = Models([]string{filepath.Join(a, "config.json")})
	assert.ErrorContains(t, err, "not a folder")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "empty"), 0o755))
	_, err = Models([]string{filepath.Join(root, "empty")})
	assert.ErrorContains(t, err, "no config.json")
}
