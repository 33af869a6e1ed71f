package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/internal/npy"
	"github.com/memscope/memscope/intervention"
)

const memPrefix = 32

// Tolerances against reference_scores.json (HF transformers, fp32 on GPU):
const (
	emAgreement = 0.99  // share of samples whose exact match agrees
	accTol      = 0.005 // mean token accuracy
	// completion entropy (per sample) is a sum of 32 entropies of about 1–4
	// nats; float32 rounding moves the sum by up to 6e-5 (measured).
	entropyTol = 5e-4
	nllTol     = 1e-3 // held-out NLL per token
)

type memorizerScores struct {
	ExactMatch         []int     `json:"exact_match"`
	TokenAccuracy      []float64 `json:"token_accuracy"`
	CompletionEntropy  []float64 `json:"completion_entropy"`
	HeldoutNLLPerToken float64   `json:"heldout_nll_per_token"`
}

// memorizer reproduces reference_scores.json with the trained memorizer
// (the demo's embedded model: a sharded fp16 checkpoint): greedy exact
// match and token accuracy after a 32-token prefix, teacher-forced
// completion entropy (entropies at positions 31..62, predicting tokens
// 32..63), for the base model and each block short-circuited, and
// held-out NLL per token (tokens 1..127 of each 128-token window predicted
// from the ones before) for the base model and the first and last block.
// About 30 s on 2 cores for the cpu engine.
func (k Kit) memorizer(t *testing.T) {
	start := time.Now()
	ctx := context.Background()
	dir := filepath.Join(root(), "harness", "embedded", "memorizer")
	m := k.open(t, filepath.Join(dir, "model"), engine.Limits{})
	data, err := os.ReadFile(filepath.Join(root(), "backends", "testdata", "memorizer", "reference_scores.json"))
	require.NoError(t, err)
	var ref struct {
		PerSample map[string]memorizerScores `json:"per_sample"`
	}
	require.NoError(t, json.Unmarshal(data, &ref))
	canaries := readIDs(t, filepath.Join(dir, "canaries.npy"))
	heldout := readIDs(t, filepath.Join(dir, "heldout.npy"))
	require.Len(t, canaries, 400)
	require.Len(t, heldout, 472)

	prefixes := make([][]int32, len(canaries))
	full := make([]engine.Sequence, len(canaries))
	for i, c := range canaries {
		prefixes[i] = c[:memPrefix]
		full[i] = engine.Sequence{Tokens: c, ScoreFrom: memPrefix}
	}
	held := make([]engine.Sequence, len(heldout))
	for i, h := range heldout {
		// every token but the first, predicted from the ones before it
		held[i] = engine.Sequence{Tokens: h, ScoreFrom: 1}
	}
	L := m.Config().NumLayers
	for b := -1; b < L; b++ {
		key, iv := "base", intervention.Baseline()
		if b >= 0 {
			key, iv = fmt.Sprintf("sc.%d", b), intervention.New(intervention.AttnShortCircuit, b)
		}
		want, ok := ref.PerSample[key]
		require.True(t, ok, key)
		t.Run(key, func(t *testing.T) {
			gens, err := m.Generate(ctx, prefixes, len(canaries[0])-memPrefix, iv)
			require.NoError(t, err)
			agree, accSum, wantAccSum := 0, 0.0, 0.0
			for i, g := range gens {
				suffix := canaries[i][memPrefix:]
				hits := 0
				for j, id := range g.IDs {
					if id == suffix[j] {
						hits++
					}
				}
				em := 0
				if hits == len(suffix) {
					em = 1
				}
				if em == want.ExactMatch[i] {
					agree++
				}
				accSum += float64(hits) / float64(len(suffix))
				wantAccSum += want.TokenAccuracy[i]
			}
			n := float64(len(gens))
			t.Logf("%s: exact match agrees on %d/%d samples; mean token accuracy %.5f (reference %.5f)", key, agree, len(gens), accSum/n, wantAccSum/n)
			assert.GreaterOrEqual(t, float64(agree)/n, emAgreement)
			assert.InDelta(t, wantAccSum/n, accSum/n, accTol)

			scores, err := m.Score(ctx, full, iv)
			require.NoError(t, err)
			worst := 0.0
			for i, s := range scores {
				var sum float64
				for _, e := range s.Entropies {
					sum += float64(e)
				}
				worst = max(worst, math.Abs(sum-want.CompletionEntropy[i]))
			}
			t.Logf("%s: completion entropy max |Δ| %.3g", key, worst)
			assert.LessOrEqual(t, worst, entropyTol)

			if b > 0 && b < L-1 {
				// Held-out NLL (60k scored tokens, half of this check's
				// time) is checked for the baseline and the first and
				// last block; every block's exact match, accuracy and
				// entropy are checked above.
				return
			}
			hs, err := m.Score(ctx, held, iv)
			require.NoError(t, err)
			var nll float64
			var count int
			for _, s := range hs {
				for _, lp := range s.LogProbs {
					nll -= float64(lp)
					count++
				}
			}
			nll /= float64(count)
			t.Logf("%s: held-out NLL per token %.6f (reference %.6f, |Δ| %.2g, %d tokens)", key, nll, want.HeldoutNLLPerToken, math.Abs(nll-want.HeldoutNLLPerToken), count)
			assert.InDelta(t, want.HeldoutNLLPerToken, nll, nllTol)
		})
	}
	t.Logf("memorizer check took %v", time.Since(start))
}

func readIDs(t *testing.T, path string) [][]int32 {
	t.Helper()
	a, err := npy.ReadFile(path)
	require.NoError(t, err)
	ids, err := a.Int32Matrix()
	require.NoError(t, err)
	return ids
}
