package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/harness/internal/testplugins"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/results"
)

// The real-plugin test runs memscope's default experiment — the embedded
// memorizer model, memorization and heldout_perplexity, attn-sc:each —
// through the real cpu backend and task plugins, and checks the scores
// against the PyTorch reference computed when the model was made
// (backends/testdata/memorizer/reference_scores.json).

var (
	realOnce sync.Once
	realDir  string
	realErr  error
)

var realBinaries = []string{"memscope-backend-cpu", "memscope-task-memorization", "memscope-task-heldout_perplexity", "memscope-task-example", "memscope-task-arc_easy"}

func realBins(t *testing.T) string {
	t.Helper()
	realOnce.Do(func() {
		bins := map[string]string{"memscope": "github.com/memscope/memscope/harness/cmd/memscope"}
		for _, b := range realBinaries {
			pkg, ok := testplugins.Real(b)
			if !ok {
				realErr = fmt.Errorf("no source for plugin %s in this tree", b)
				return
			}
			bins[b] = pkg
		}
		if realDir, realErr = testplugins.ScratchDir("real-bin"); realErr == nil {
			realErr = testplugins.Build(realDir, bins)
		}
	})
	require.NoError(t, realErr)
	return realDir
}

type memorizerReference struct {
	PerSample map[string]struct {
		ExactMatch        []float64 `json:"exact_match"`
		TokenAccuracy     []float64 `json:"token_accuracy"`
		CompletionEntropy []float64 `json:"completion_entropy"`
		HeldoutNLL        float64   `json:"heldout_nll_per_token"`
	} `json:"per_sample"`
}

// TestCLIEmbeddedMemorizerWithRealPlugins is the demo's acceptance test:
// memscope's default experiment on the embedded model — every canary,
// baseline and each of the 6 blocks short-circuited — must reproduce the
// PyTorch reference per sample (exact match on ≥ 99% of the 400 canaries
// under every intervention, mean token accuracy within 0.005, held-out NLL
// per token within 1e-3), and so the headline numbers: exact match on the
// planted canaries 0.43 at baseline, 0.22 with block 5 bypassed, about 0
// for blocks 0-4, and 0 on the controls.
func TestCLIEmbeddedMemorizerWithRealPlugins(t *testing.T) {
	bin := realBins(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "backends", "testdata", "memorizer", "reference_scores.json"))
	require.NoError(t, err)
	var ref memorizerReference
	require.NoError(t, json.Unmarshal(data, &ref))

	out := filepath.Join(t.TempDir(), "out")
	cache := filepath.Join(t.TempDir(), "cache")
	cmd := func() cliResult {
		return runCLI(t, memscopeCmdIn(t, bin, []string{"MEMSCOPE_CACHE_DIR=" + cache},
			"run", "--tasks", "memorization,heldout_perplexity", "--out", out, "--threads", "2"))
	}
	r := cmd()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no --model given: using the embedded memorizer model")
	assert.Contains(t, r.stderr, "14 cells (14 computed, 0 resumed)")
	assert.Contains(t, r.stdout, "ability Δ: mean relative change of the main metric of heldout_perplexity")

	run, err := results.Read(out)
	require.NoError(t, err)
	assert.Contains(t, r.stderr, results.ShortHash(run.Metrics[0].ModelHash)+")", "the start-up line shows the weights' hash, as the tables do")

	// Bypassing block 5 loses dozens of canaries and gains none: McNemar
	// finds it significant; held-out NLL rises significantly too.
	cs, err := results.ReadComparisons(out)
	require.NoError(t, err)
	sc5 := intervention.New(intervention.AttnShortCircuit, 5)
	for _, c := range cs {
		if c.Intervention.String() != sc5.String() {
			continue
		}
		switch c.Task + "/" + c.Metric {
		case "memorization/exact_match":
			assert.Equal(t, "mcnemar_exact", c.Test)
			assert.Greater(t, c.OnlyA, 30)
			assert.LessOrEqual(t, c.OnlyB, 2)
			assert.Less(t, c.P, 1e-8)
		case "heldout_perplexity/nll_per_token":
			assert.True(t, c.Significant(true), "p=%g", c.P)
			assert.Greater(t, c.CILow, 0.0)
		}
	}
	type key struct {
		iv  string
		doc int
	}
	em, acc := map[key]float64{}, map[key]float64{}
	for _, d := range run.Docs {
		if d.Task == "memorization" {
			em[key{d.Intervention.String(), d.DocIndex}] = d.Metrics["exact_match"]
			acc[key{d.Intervention.String(), d.DocIndex}] = d.Metrics["token_accuracy"]
		}
	}
	metric := map[string]float64{}
	for _, m := range run.Metrics {
		assert.Equal(t, "memorizer", m.Model)
		metric[m.Intervention.String()+" "+m.Task+" "+m.Metric] = m.Value
	}
	ivs := map[string]string{"base": "none"}
	for b := range 6 {
		ivs[fmt.Sprintf("sc.%d", b)] = fmt.Sprintf("attn-sc:%d", b)
	}
	const canaries = 400
	for refName, iv := range ivs {
		want := ref.PerSample[refName]
		require.Len(t, want.ExactMatch, canaries)
		agree := 0
		var accSum, refAccSum float64
		for d := range canaries {
			if em[key{iv, d}] == want.ExactMatch[d] {
				agree++
			}
			accSum += acc[key{iv, d}]
			refAccSum += want.TokenAccuracy[d]
		}
		assert.GreaterOrEqual(t, agree, canaries*99/100, "per-canary exact match under %s", iv)
		assert.InDelta(t, refAccSum/canaries, accSum/canaries, 0.005, "mean token accuracy under %s", iv)
		assert.InDelta(t, want.HeldoutNLL, metric[iv+" heldout_perplexity nll_per_token"], 1e-3, "held-out NLL under %s", iv)
		assert.Zero(t, metric[iv+" memorization exact_match[kind=control]"], "controls are never reproduced (%s)", iv)
	}
	assert.InDelta(t, 0.43, metric["none memorization exact_match[kind=planted]"], 0.005)
	assert.InDelta(t, 0.22, metric["attn-sc:5 memorization exact_match[kind=planted]"], 0.005)
	for b := range 5 {
		assert.LessOrEqual(t, metric[fmt.Sprintf("attn-sc:%d memorization exact_match[kind=planted]", b)], 0.02, "block %d", b)
	}
	assert.InDelta(t, 4.289, metric["none heldout_perplexity nll_per_token"], 1e-3)

	// The requests table re-scores memorization without the model: each
	// generation (request 0) against the true suffix at the end of the
	// teacher-forced sequence (request 1) gives the docs table's scores.
	type gen struct{ generated, full []int32 }
	gens := map[key]*gen{}
	for _, r := range run.Requests {
		if r.Task != "memorization" {
			continue
		}
		k := key{r.Intervention.String(), r.DocIndex}
		if gens[k] == nil {
			gens[k] = &gen{}
		}
		if r.RequestIndex == 0 {
			require.Equal(t, plugins.KindGenerateTokens, r.RequestType)
			assert.Len(t, r.InputIDs, 32, "the prefix")
			gens[k].generated = r.GeneratedIDs
		} else {
			gens[k].full = r.InputIDs
		}
	}
	require.Len(t, gens, canaries*7)
	for k, g := range gens {
		suffix := g.full[len(g.full)-len(g.generated):]
		same := 0
		for i := range suffix {
			if suffix[i] == g.generated[i] {
				same++
			}
		}
		rescored := float64(same) / float64(len(suffix))
		assert.Equal(t, acc[k], rescored, "token accuracy of %v re-scored from the requests table", k)
		assert.Equal(t, em[k], map[bool]float64{true: 1, false: 0}[same == len(suffix)], "exact match of %v", k)
	}

	// The same command again: every cell resumed, same tables.
	before := tableRows(t, out)
	r = cmd()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "14 cells (0 computed, 14 resumed)")
	assert.Equal(t, before, tableRows(t, out))
	assert.FileExists(t, filepath.Join(out, "figures", "per_block.png"))
}

// TestCLIExampleTaskPlugin builds the README's example task plugin
// (tasks/example) and runs it through memscope with the real cpu backend:
// a user's own task works the same way.
func TestCLIExampleTaskPlugin(t *testing.T) {
	bin := realBins(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, memscopeCmdIn(t, bin, []string{"MEMSCOPE_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache")},
		"run", "--tasks", "example", "--interventions", "attn-sc:5", "--out", out))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "2 cells (2 computed, 0 resumed)")

	run, err := results.Read(out)
	require.NoError(t, err)
	var accs []string
	for _, m := range run.Metrics {
		require.Equal(t, "example", m.Task)
		require.Equal(t, "acc", m.Metric)
		assert.Equal(t, 5, m.N, "five embedded questions")
		assert.True(t, m.HigherIsBetter)
		accs = append(accs, m.Intervention.String())
	}
	assert.ElementsMatch(t, []string{"none", "attn-sc:5"}, accs)
	perDoc := 0
	for _, d := range run.Docs {
		assert.Len(t, d.ChoiceLogLikelihoods, map[int]int{0: 4, 1: 3, 2: 4, 3: 3, 4: 3}[d.DocIndex], "doc %d", d.DocIndex)
		assert.GreaterOrEqual(t, d.Prediction, 0)
		perDoc++
	}
	assert.Equal(t, 10, perDoc)
	assert.Len(t, run.Requests, 2*17, "one loglikelihood request per choice")
}
