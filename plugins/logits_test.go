package plugins_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/plugins/internal/testplugins"
)

// TestLogitsRoundTripIsExact: raw logits cross the process boundary bit
// for bit (NaN payloads included), in several chunks, with progress, and
// an empty batch gives an empty answer.
func TestLogitsRoundTripIsExact(t *testing.T) {
	ctx := ctxTimeout(t, 60*time.Second)
	remote, _ := startBackend(t, plugins.StartOptions{})
	local := &testplugins.Backend{}
	ids := make([][]int32, 3)
	for i := range ids {
		ids[i] = make([]int32, 100) // 3 × 100 × 1000 floats: more than one 1 MiB chunk
		for j := range ids[i] {
			ids[i][j] = int32(i*1000 + j)
		}
	}
	for _, iv := range testInterventions {
		var prog [][2]int
		got, err := remote.Logits(ctx, iv, ids, func(done, total int) { prog = append(prog, [2]int{done, total}) })
		require.NoError(t, err)
		want, err := local.Logits(ctx, iv, ids, nil)
		require.NoError(t, err)
		require.Len(t, got, 3*100*testplugins.FakeVocab)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: logit %d: got %08x, want %08x", iv, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
			}
		}
		require.NotEmpty(t, prog)
		assert.Equal(t, [2]int{3, 3}, prog[len(prog)-1])
	}
	empty, err := remote.Logits(ctx, intervention.Baseline(), nil, nil)
	require.NoError(t, err)
	assert.Empty(t, empty)

	_, err = remote.Logits(ctx, intervention.Baseline(), [][]int32{{1, 2}, {3}}, nil)
	assert.ErrorContains(t, err, "sequence 1 has 1 tokens but sequence 0 has 2")
}
