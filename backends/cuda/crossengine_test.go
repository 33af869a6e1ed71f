package cuda

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/cpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/internal/npy"
	"github.com/memscope/memscope/intervention"
)

// TestAgreesWithCPUEngine: the cuda engine (on the emulator, float32) and
// the cpu engine give the trained memorizer's canaries the same per-token
// log-probabilities and entropies (within 1e-4) and the same greedy
// continuations, baseline and with a block short-circuited: a cpu run and
// a cuda run of one model compare on the leaderboard.
func TestAgreesWithCPUEngine(t *testing.T) {
	dev := testDevice(t)
	const dir = "../../harness/embedded/memorizer"
	g, err := Load(dev, dir+"/model", Options{DType: "float32"})
	require.NoError(t, err)
	defer g.Close()
	c, err := cpu.Load(dir+"/model", cpu.Options{})
	require.NoError(t, err)
	defer c.Close()
	arr, err := npy.ReadFile(dir + "/canaries.npy")
	require.NoError(t, err)
	rows, err := arr.Int32Matrix()
	require.NoError(t, err)
	rows = rows[:12]
	ctx := context.Background()
	seqs := make([]engine.Sequence, len(rows))
	prefixes := make([][]int32, len(rows))
	for i, r := range rows {
		seqs[i] = engine.Sequence{Tokens: r, ScoreFrom: 1}
		prefixes[i] = r[:32]
	}
	for _, iv := range []intervention.Intervention{intervention.Baseline(), intervention.New(intervention.AttnShortCircuit, 5)} {
		a, err := g.Score(ctx, seqs, iv)
		require.NoError(t, err)
		b, err := c.Score(ctx, seqs, iv)
		require.NoError(t, err)
		worst := 0.0
		for i := range seqs {
			for j := range a[i].LogProbs {
				worst = max(worst, math.Abs(float64(a[i].LogProbs[j]-b[i].LogProbs[j])), math.Abs(float64(a[i].Entropies[j]-b[i].Entropies[j])))
			}
			assert.Equal(t, b[i].Greedy, a[i].Greedy, "%s sequence %d greedy flags", iv, i)
		}
		assert.Less(t, worst, 1e-4, "%s: max |Δ| log-prob or entropy, cuda vs cpu", iv)
		ga, err := g.Generate(ctx, prefixes, 32, iv)
		require.NoError(t, err)
		gb, err := c.Generate(ctx, prefixes, 32, iv)
		require.NoError(t, err)
		equal := 0
		for i := range ga {
			if assert.ObjectsAreEqual(gb[i].IDs, ga[i].IDs) {
				equal++
			}
		}
		t.Logf("%s: max |Δ| cuda vs cpu = %.3g; greedy continuations equal %d/%d", iv, worst, equal, len(ga))
		assert.Equal(t, len(ga), equal, "%s: greedy continuations", iv)
	}
}
