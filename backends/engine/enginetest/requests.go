package enginetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/intervention"
)

// badRequests: invalid requests are refused with the messages of the
// engine package's checks; windows of exactly the model's size work;
// cancellation stops a call; a closed engine refuses work.
func (k Kit) badRequests(t *testing.T) {
	ctx := context.Background()
	m := k.tiny(t, "gptneox-tiny", engine.Limits{}) // 128 positions, 384 ids, 4 blocks
	good := []int32{1, 2, 3, 4}
	bad := []int32{1, 2, 384, 4}

	_, err := m.Logits(ctx, [][]int32{good, bad}, intervention.Baseline())
	assert.ErrorContains(t, err, "sequence 1, position 2: token id 384")
	_, err = m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 1}, {Tokens: bad, ScoreFrom: 1}}, intervention.Baseline())
	assert.ErrorContains(t, err, "sequence 1, position 2: token id 384")
	_, err = m.Generate(ctx, [][]int32{{-1}}, 3, intervention.Baseline())
	assert.ErrorContains(t, err, "prefix 0, position 0: token id -1")

	_, err = m.Logits(ctx, [][]int32{good}, intervention.New(intervention.AttnShortCircuit, 4))
	assert.ErrorContains(t, err, "block 4 does not exist")
	_, err = m.Generate(ctx, [][]int32{good}, 3, intervention.Intervention{Kind: "attn-scale", Blocks: []int{1}})
	assert.ErrorContains(t, err, `intervention kind "attn-scale" is not supported`)

	_, err = m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 0}}, intervention.Baseline())
	assert.ErrorContains(t, err, "ScoreFrom 0")
	_, err = m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 5}}, intervention.Baseline())
	assert.ErrorContains(t, err, "ScoreFrom 5")
	empty, err := m.Score(ctx, []engine.Sequence{{Tokens: good, ScoreFrom: 4}}, intervention.Baseline())
	require.NoError(t, err)
	assert.NotNil(t, empty[0].LogProbs)
	assert.Empty(t, empty[0].LogProbs)

	// The last token of a scored sequence is only a target: a window of
	// max_position_embeddings+1 tokens fits, one more does not.
	long := make([]int32, 130)
	for i := range long {
		long[i] = int32(i * 7 % 384)
	}
	full, err := m.Score(ctx, []engine.Sequence{{Tokens: long[:129], ScoreFrom: 100}, {Tokens: long[:128], ScoreFrom: 100}}, intervention.Baseline())
	require.NoError(t, err)
	require.Len(t, full[0].LogProbs, 29)
	assert.InDeltaSlice(t, full[1].LogProbs, full[0].LogProbs[:28], 1e-5)
	_, err = m.Score(ctx, []engine.Sequence{{Tokens: long, ScoreFrom: 100}}, intervention.Baseline())
	assert.ErrorContains(t, err, "max_position_embeddings")

	_, err = m.Logits(ctx, [][]int32{good, good[:3]}, intervention.Baseline())
	assert.ErrorContains(t, err, "same length")
	_, err = m.Logits(ctx, [][]int32{make([]int32, 129)}, intervention.Baseline())
	assert.ErrorContains(t, err, "max_position_embeddings")
	// Generation feeds back all new tokens but the last: 120 + 9 fits 128
	// positions, 120 + 10 does not.
	gen9, err := m.Generate(ctx, [][]int32{long[:120]}, 9, intervention.Baseline())
	require.NoError(t, err)
	gen8, err := m.Generate(ctx, [][]int32{long[:120]}, 8, intervention.Baseline())
	require.NoError(t, err)
	require.Len(t, gen9[0].IDs, 9)
	assert.Equal(t, gen8[0].IDs, gen9[0].IDs[:8])
	_, err = m.Generate(ctx, [][]int32{long[:120]}, 10, intervention.Baseline())
	assert.ErrorContains(t, err, "max_position_embeddings")
	_, err = m.Generate(ctx, [][]int32{{}}, 3, intervention.Baseline())
	assert.ErrorContains(t, err, "prefix 0 is empty")
	_, err = m.Generate(ctx, [][]int32{good}, -1, intervention.Baseline())
	assert.ErrorContains(t, err, "cannot generate -1 tokens")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Generate(cancelled, [][]int32{good}, 3, intervention.Baseline())
	assert.ErrorIs(t, err, context.Canceled)
	_, err = m.Score(cancelled, []engine.Sequence{{Tokens: good, ScoreFrom: 1}}, intervention.Baseline())
	assert.ErrorIs(t, err, context.Canceled)
	_, err = m.Logits(cancelled, [][]int32{good}, intervention.Baseline())
	assert.ErrorIs(t, err, context.Canceled)

	require.NoError(t, m.Close())
	_, err = m.Logits(ctx, [][]int32{good}, intervention.Baseline())
	assert.Error(t, err, "a closed engine refuses work")
	assert.NoError(t, m.Close(), "Close twice")
}
