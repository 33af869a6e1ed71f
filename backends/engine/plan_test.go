package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

var cfg = modelconfig.Config{ModelType: modelconfig.GPTNeoX, VocabSize: 10, HiddenSize: 8, NumLayers: 3, NumHeads: 2, MaxPositions: 6}

func TestGroups(t *testing.T) {
	assert.Equal(t, [][2]int{{0, 2}, {2, 3}, {3, 5}}, Groups([]int{2, 3, 9, 4, 1}, 5))
	assert.Nil(t, Groups(nil, 5))
}

func TestNewPass(t *testing.T) {
	p := NewPass([]int{2, 3}, []int{0, 4})
	assert.Equal(t, 5, p.Rows)
	assert.Equal(t, []int{0, 2}, p.Off)
	assert.Equal(t, []int{0, 1, 4, 5, 6}, p.PosOf)
	assert.Equal(t, []int{1, 4}, p.LastRows())
}

// PlanScore feeds every token but the last, scores rows ScoreFrom-1 ..
// len-2 against the next token, leaves sequences with nothing to score
// out of the passes, and Collect hands the numbers back per sequence.
func TestPlanScore(t *testing.T) {
	seqs := []Sequence{
		{Tokens: []int32{1, 2, 3, 4}, ScoreFrom: 2}, // inputs 1 2 3, scores 3 4 from rows 1 2
		{Tokens: []int32{5, 6}, ScoreFrom: 2},       // nothing to score
		{Tokens: []int32{7, 8, 9}, ScoreFrom: 1},    // inputs 7 8, scores 8 9 from rows 0 1
	}
	passes, err := PlanScore(cfg, seqs, Limits{MaxBatchTokens: 3})
	require.NoError(t, err)
	require.Len(t, passes, 2)
	assert.Equal(t, []int32{1, 2, 3}, passes[0].IDs)
	assert.Equal(t, []int{0}, passes[0].Seqs)
	assert.Equal(t, []int{1, 2}, passes[0].Rows)
	assert.Equal(t, []int32{3, 4}, passes[0].Targets)
	assert.Equal(t, []int32{7, 8}, passes[1].IDs)
	assert.Equal(t, []int{2}, passes[1].Seqs)
	assert.Equal(t, []int{0, 1}, passes[1].Rows)
	assert.Equal(t, []int32{8, 9}, passes[1].Targets)

	out := NewTokenScores(3)
	passes[0].Collect(out, seqs, []float32{-1, -2}, []float32{1, 2}, []bool{true, false})
	passes[1].Collect(out, seqs, []float32{-3, -4}, []float32{3, 4}, []bool{false, true})
	assert.Equal(t, []float32{-1, -2}, out[0].LogProbs)
	assert.Equal(t, []bool{false, true}, out[2].Greedy)
	assert.NotNil(t, out[1].LogProbs)
	assert.Empty(t, out[1].LogProbs)

	one, err := PlanScore(cfg, seqs, Limits{})
	require.NoError(t, err)
	require.Len(t, one, 1, "default budget: one pass")
	assert.Equal(t, []int{1, 2, 3, 4}, one[0].Rows, "sequence 2 packed right after sequence 0")
}

func TestPlanGenerate(t *testing.T) {
	prefixes := [][]int32{{1, 2}, {3}, {4, 5, 6}}
	// 3 layers × (k, v) × 8 values × 4 bytes = 192 bytes per token; 7
	// tokens of cache: the first two prefixes (2+3, 1+3 tokens) do not fit
	// together.
	groups, err := PlanGenerate(cfg, prefixes, 3, Limits{MaxCacheBytes: 7 * 192, MaxBatchTokens: 2}, 4)
	require.NoError(t, err)
	require.Len(t, groups, 3)
	assert.Equal(t, []int{4}, groups[0].Caps)
	assert.Equal(t, 2, groups[2].First)

	all, err := PlanGenerate(cfg, prefixes, 3, Limits{MaxBatchTokens: 3}, 4)
	require.NoError(t, err)
	require.Len(t, all, 1)
	g := all[0]
	assert.Equal(t, []int{4, 3, 5}, g.Caps)
	pre := g.Step(0, nil) // prefill within 3 tokens a pass: {1 2}{3} | {4 5 6}
	require.Len(t, pre, 2)
	assert.Equal(t, []int32{1, 2, 3}, pre[0].IDs)
	assert.Equal(t, 0, pre[0].Lo)
	assert.Equal(t, 2, pre[0].Hi)
	assert.Equal(t, []int{1, 2}, pre[0].LastRows())
	assert.Equal(t, []int32{4, 5, 6}, pre[1].IDs)
	dec := g.Step(2, []int32{7, 8, 9}) // one token each at len(prefix)+1
	require.Len(t, dec, 1)
	assert.Equal(t, []int32{7, 8, 9}, dec[0].IDs)
	assert.Equal(t, []int{3, 2, 4}, dec[0].Pos0)

	none, err := PlanGenerate(cfg, prefixes, 0, Limits{}, 4)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestChecks(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{CheckSequence(cfg, "sequence 2", Sequence{Tokens: []int32{1, 2}, ScoreFrom: 0}), "sequence 2: ScoreFrom 0 is outside [1, 2]"},
		{CheckSequence(cfg, "sequence 0", Sequence{Tokens: make([]int32, 8), ScoreFrom: 1}), "sequence 0 has 8 tokens: 7 model inputs (all but the final target), more than the model's 6 positions"},
		{CheckSequence(cfg, "sequence 1", Sequence{Tokens: []int32{1, 10}, ScoreFrom: 1}), "sequence 1, position 1: token id 10 is outside the model's vocabulary (0-9)"},
		{CheckPrefix(cfg, "prefix 3", nil, 1), "prefix 3 is empty"},
		{CheckPrefix(cfg, "prefix 0", []int32{1}, -2), "prefix 0: cannot generate -2 tokens"},
		{CheckPrefix(cfg, "prefix 0", []int32{1, 2}, 6), "prefix 0: 2 tokens + 6 new need 7 positions"},
		{CheckIntervention(cfg, intervention.New(intervention.AttnZero, 1), []intervention.Kind{intervention.AttnShortCircuit}), `intervention kind "attn-zero" is not supported by this engine (it applies attn-short-circuit)`},
		{CheckIntervention(cfg, intervention.New(intervention.AttnZero, 3), intervention.AttentionKinds), "block 3 does not exist"},
		{Limits{MaxBatchTokens: -1}.Check(), "must be ≥ 0"},
	} {
		assert.ErrorContains(t, c.err, c.want)
	}
	assert.NoError(t, CheckSequence(cfg, "s", Sequence{Tokens: make([]int32, 7), ScoreFrom: 7}), "max_positions+1 tokens: the last is only a target")
	assert.NoError(t, CheckPrefix(cfg, "p", []int32{1, 2}, 5), "the last new token needs no position")
	assert.NoError(t, CheckIntervention(cfg, intervention.Baseline(), nil))
	T, err := CheckBatch(cfg, nil)
	assert.NoError(t, err)
	assert.Zero(t, T)
	_, err = CheckBatch(cfg, [][]int32{{}})
	assert.ErrorContains(t, err, "empty")
}
