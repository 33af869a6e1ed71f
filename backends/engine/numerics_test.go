package engine

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

var (
	nan  = float32(math.NaN())
	pInf = float32(math.Inf(1))
	nInf = float32(math.Inf(-1))
)

func TestArgmaxIsNumpys(t *testing.T) {
	for _, c := range []struct {
		z    []float32
		want int
	}{
		{[]float32{1, 3, 3, 2}, 1},
		{[]float32{1, nan, 5, nan}, 1},
		{[]float32{nan, 1}, 0},
		{[]float32{1, pInf, 2, pInf}, 1},
		{[]float32{nInf, nInf}, 0},
		{[]float32{nInf, -3e38, nInf}, 1},
		{nil, 0},
	} {
		assert.Equal(t, c.want, Argmax(c.z), "%v", c.z)
	}
}

func TestRowStatsDefinesEveryRow(t *testing.T) {
	isNaN := func(v float64) bool { return math.IsNaN(v) }
	am, lz, h := RowStats([]float32{0, 0})
	assert.Equal(t, 0, am)
	assert.InDelta(t, math.Log(2), lz, 1e-12)
	assert.InDelta(t, math.Log(2), h, 1e-12)

	am, lz, h = RowStats([]float32{1, nan, 2})
	assert.Equal(t, 1, am)
	assert.True(t, isNaN(lz) && isNaN(h))

	am, lz, h = RowStats([]float32{1, pInf, 2})
	assert.Equal(t, 1, am)
	assert.True(t, math.IsInf(lz, 1) && isNaN(h))

	am, lz, h = RowStats([]float32{nInf, nInf})
	assert.Equal(t, 0, am)
	assert.True(t, math.IsInf(lz, -1) && isNaN(h))

	// -Inf entries weigh nothing: {0, 0, -Inf} is {0, 0}.
	am, lz, h = RowStats([]float32{nInf, 0, 0})
	assert.Equal(t, 1, am)
	assert.InDelta(t, math.Log(2), lz, 1e-12)
	assert.InDelta(t, math.Log(2), h, 1e-12)

	// Values whose differences overflow float32 stay exact in float64.
	am, lz, h = RowStats([]float32{3e38, -3e38, 3e38})
	assert.Equal(t, 0, am)
	assert.InDelta(t, 3e38, lz, 1e32)
	assert.InDelta(t, math.Log(2), h, 1e-12)
}

func TestCountNonFinite(t *testing.T) {
	c := CountNonFinite([]float32{1, 3e38, nan, pInf, nInf, nan})
	assert.Equal(t, FiniteCount{NaN: 2, PosInf: 1, NegInf: 1, First: 2, Len: 6}, c)
	assert.Equal(t, 4, c.Bad())
	assert.Equal(t, "2 NaN, 1 +Inf, 1 -Inf of 6 values, the first at index 2", c.String())
	assert.Equal(t, 0, CountNonFinite([]float32{0, -3e38}).Bad())
}

func TestNonFiniteMessages(t *testing.T) {
	assert.Equal(t, "block 1 attention output at position 3", NonFinite{Block: 1, Part: PartAttention, Position: 3}.String())
	assert.Equal(t, "logits at position 0", NonFinite{Block: 4, Part: PartLogits}.String())
	err := &NonFiniteWeightsError{Tensors: []NonFiniteTensor{{Name: "w", Count: CountNonFinite([]float32{nan, 1})}}}
	assert.Contains(t, err.Error(), "1 weight tensor holds")
	assert.Contains(t, err.Error(), "w (1 NaN of 2 values, the first at index 0)")
	assert.Contains(t, err.Error(), "--allow-nonfinite-weights")
}
