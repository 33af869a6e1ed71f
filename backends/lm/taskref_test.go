package lm

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/cpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/tokenizer"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// The embedded memorizer model is the one the taskref fixtures were made with.
const memorizerDir = "../../harness/embedded/memorizer/model"

type refRequest struct {
	Context         string  `json:"context"`
	Continuation    string  `json:"continuation"`
	ContextIDs      []int32 `json:"context_ids"`
	ContinuationIDs []int32 `json:"continuation_ids"`
	LogLikelihood   float64 `json:"loglikelihood"`
	IsGreedy        bool    `json:"is_greedy"`
}

func loadRefRequests(t *testing.T, task string) []refRequest {
	t.Helper()
	f, err := os.Open(filepath.Join("../../tasks", task, "testdata/taskref.jsonl.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out []refRequest
	for sc.Scan() {
		var doc struct {
			Requests []refRequest `json:"requests"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &doc))
		out = append(out, doc.Requests...)
	}
	require.NoError(t, sc.Err())
	return out
}

// TestTaskrefThroughCPUBackend runs every request of the five benchmarks'
// reference fixtures (first 60 docs each, made with HF transformers and
// lm-eval's request rules on the memorizer model) through the real
// tokenizer and CPU engine: token ids must be identical, log-likelihoods
// within 1e-3 and is_greedy identical.
func TestTaskrefThroughCPUBackend(t *testing.T) {
	tok, err := tokenizer.Load(memorizerDir)
	require.NoError(t, err)
	b := New(Config{
		Name: "cpu", Version: "test", DTypes: []string{"float32"}, InterventionKinds: intervention.AttentionKinds,
		LoadEngine: func(_ context.Context, req plugins.LoadRequest) (engine.Engine, error) {
			return cpu.Load(req.ModelDir, cpu.Options{})
		},
		LoadTokenizer: func(string) (Tokenizer, error) { return tok, nil },
	})
	info, err := b.Load(context.Background(), plugins.LoadRequest{ModelDir: memorizerDir})
	require.NoError(t, err)
	assert.Equal(t, int32(0), info.EOTTokenID)
	// Parameters as HF counts them: every stored tensor once.
	ck, err := checkpoint.Open(memorizerDir)
	require.NoError(t, err)
	var stored int64
	for _, ti := range ck.Tensors() {
		n := int64(1)
		for _, d := range ti.Shape {
			n *= int64(d)
		}
		stored += n
	}
	ck.Close()
	assert.Equal(t, stored, info.Parameters)
	assert.InDelta(t, 4.2e6, float64(info.Parameters), 0.05e6, "the README's 4.2M-parameter demo model")

	for _, task := range []string{"lambada_openai", "piqa", "winogrande", "arc_easy", "hellaswag"} {
		t.Run(task, func(t *testing.T) {
			refs := loadRefRequests(t, task)
			reqs := make([]plugins.LoglikelihoodRequest, len(refs))
			for i, r := range refs {
				reqs[i] = plugins.LoglikelihoodRequest{Context: r.Context, Continuation: r.Continuation}
				p := encodePair(tok, info.EOTTokenID, r.Context, r.Continuation)
				require.Equal(t, r.ContextIDs, p.context, "request %d context ids", i)
				require.Equal(t, r.ContinuationIDs, p.continuation, "request %d continuation ids", i)
			}
			res, err := b.Loglikelihood(context.Background(), intervention.Baseline(), reqs, nil)
			require.NoError(t, err)
			worst := 0.0
			for i, r := range refs {
				d := math.Abs(res[i].LogLikelihood - r.LogLikelihood)
				worst = max(worst, d)
				assert.LessOrEqual(t, d, 1e-3, "request %d: ll %v, reference %v", i, res[i].LogLikelihood, r.LogLikelihood)
				assert.Equal(t, r.IsGreedy, res[i].IsGreedy, "request %d is_greedy", i)
				assert.Equal(t, len(r.ContinuationIDs), res[i].ContinuationTokens)
			}
			t.Logf("%s: %d requests, max |Δ loglikelihood| = %.2e", task, len(refs), worst)
		})
	}
}
