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
	realSkip string
)

var realBinaries = []string{"memscope-backend-cpu", "memscope-task-memorization", "memscope-task-heldout_perplexity"}

func realBins(t *testing.T) string {
	t.Helper()
	realOnce.Do(func() {
		bins := map[string]string{"memscope": "github.com/memscope/memscope/harness/cmd/memscope"}
		for _, b := range realBinaries {
			pkg, ok := testplugins.Real(b)
			if !ok {
				realSkip = b + " is not in this tree yet"
				return
			}
			bins[b] = pkg
		}
		if realDir, realErr = testplugins.ScratchDir("real-bin"); realErr == nil {
			realErr = testplugins.Build(realDir, bins)
		}
	})
	if realSkip != "" {
		t.Skip(realSkip)
	}
	require.NoError(t, realErr)
	return realDir
}

type memorizerReference struct {
	PerSample map[string]struct {
		ExactMatch    []float64 `json:"exact_match"`
		TokenAccuracy []float64 `json:"token_accuracy"`
		HeldoutNLL    float64   `json:"heldout_nll_per_token"`
	} `json:"per_sample"`
}

func TestCLIEmbeddedMemorizerWithRealPlugins(t *testing.T) {
	bin := realBins(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "backends", "testdata", "memorizer", "reference_scores.json"))
	require.NoError(t, err)
	var ref memorizerReference
	require.NoError(t, json.Unmarshal(data, &ref))

	out := filepath.Join(t.TempDir(), "out")
	cache := filepath.Join(t.TempDir(), "cache")
	const docs = 24
	cmd := func() cliResult {
		return runCLI(t, memscopeCmdIn(t, bin, []string{"MEMSCOPE_CACHE_DIR=" + cache},
			"run", "--docs", fmt.Sprintf("0-%d", docs-1), "--out", out, "--threads", "2"))
	}
	r := cmd()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no --model given: using the embedded memorizer model")
	assert.Contains(t, r.stderr, "14 cells (14 computed, 0 resumed)")

	run, err := results.Read(out)
	require.NoError(t, err)
	type key struct {
		iv  string
		doc int
	}
	em := map[key]float64{}
	nll := map[string]float64{}
	for _, d := range run.Docs {
		if d.Task == "memorization" {
			em[key{d.Intervention.String(), d.DocIndex}] = d.Metrics["exact_match"]
		}
	}
	for _, m := range run.Metrics {
		assert.Equal(t, "memorizer", m.Model)
		if m.Task == "heldout_perplexity" && m.Metric == "nll_per_token" {
			nll[m.Intervention.String()] = m.Value
		}
	}
	// Greedy generation may flip on near-ties between float32 CPU and the
	// CUDA reference; allow one disagreement per intervention.
	for refName, iv := range map[string]string{"base": "none", "sc.0": "attn-sc:0", "sc.3": "attn-sc:3", "sc.5": "attn-sc:5"} {
		agree := 0
		for d := range docs {
			if em[key{iv, d}] == ref.PerSample[refName].ExactMatch[d] {
				agree++
			}
		}
		assert.GreaterOrEqual(t, agree, docs-1, "exact match per canary under %s", iv)
	}
	// Bypassing block 4 costs the most held-out likelihood (reference 5.40
	// vs 4.29 nats per token over all windows).
	assert.Greater(t, nll["attn-sc:4"], nll["none"]+0.5)

	// The same command again: every cell resumed, same tables.
	before := tableRows(t, out)
	r = cmd()
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "14 cells (0 computed, 14 resumed)")
	assert.Equal(t, before, tableRows(t, out))
	assert.FileExists(t, filepath.Join(out, "figures", "per_block.png"))
}
