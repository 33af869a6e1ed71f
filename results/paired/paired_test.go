package paired

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// McNemar's exact p by hand: 2·Σ_{k≤min(b,c)} C(b+c,k) / 2^(b+c).
func TestMcNemarExactByHand(t *testing.T) {
	for _, c := range []struct {
		b, c int
		want float64
	}{
		{0, 0, 1},
		{0, 5, 2.0 / 32},               // 2·1/32
		{1, 9, 22.0 / 1024},            // 2·(1+10)/1024
		{9, 1, 22.0 / 1024},            // symmetric
		{2, 8, 112.0 / 1024},           // 2·(1+10+45)/1024
		{3, 3, 1},                      // no evidence either way
		{4, 5, 1},                      // 2·P(X≤4 | 9) = 2·256/512 = 1
		{0, 1, 1},                      // 2·1/2
		{21, 0, 2 * math.Pow(0.5, 21)}, // the demo's block 5: 21 canaries lost, none gained
		{0, 40, 2 * math.Pow(0.5, 40)}, // tiny, not 0
	} {
		got := McNemarExact(c.b, c.c)
		assert.InDelta(t, c.want, got, 1e-15*math.Max(1, c.want), "b=%d c=%d", c.b, c.c)
		assert.InEpsilon(t, c.want, got, 1e-12, "b=%d c=%d", c.b, c.c)
	}
}

// exactMcNemar computes the p-value with exact rational arithmetic.
func exactMcNemar(b, c int) float64 {
	n := b + c
	k := min(b, c)
	sum, term := new(big.Int), big.NewInt(1) // term = C(n, i)
	for i := 0; i <= k; i++ {
		sum.Add(sum, term)
		term.Mul(term, big.NewInt(int64(n-i)))
		term.Quo(term, big.NewInt(int64(i+1)))
	}
	p := new(big.Rat).SetFrac(new(big.Int).Mul(sum, big.NewInt(2)), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	f, _ := p.Float64()
	return math.Min(1, f)
}

func TestMcNemarExactAgainstRationals(t *testing.T) {
	for _, c := range [][2]int{{40, 70}, {100, 130}, {512, 600}, {3000, 3200}, {7, 30}, {1, 200}} {
		want := exactMcNemar(c[0], c[1])
		got := McNemarExact(c[0], c[1])
		assert.InEpsilon(t, want, got, 1e-9, "b=%d c=%d", c[0], c[1])
	}
}

func TestHolmByHand(t *testing.T) {
	// Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06.
	got := Holm([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.03, 0.06, 0.06, 0.02}
	for i := range want {
		assert.InDelta(t, want[i], got[i], 1e-15)
	}
	got = Holm([]float64{0.5, math.NaN(), 0.9})
	assert.InDelta(t, 1.0, got[0], 1e-15) // min(1, 2·0.5)
	assert.True(t, math.IsNaN(got[1]))
	assert.InDelta(t, 1.0, got[2], 1e-15)
	assert.Empty(t, Holm(nil))
}

func TestQuantileIsNumpyLinear(t *testing.T) {
	s := []float64{1, 2, 4, 8}
	// numpy.quantile([1,2,4,8], q): h = q·3.
	assert.Equal(t, 1.0, quantile(s, 0))
	assert.Equal(t, 8.0, quantile(s, 1))
	assert.InDelta(t, 2+0.5*2, quantile(s, 0.5), 1e-15)     // h=1.5
	assert.InDelta(t, 1+0.075*1, quantile(s, 0.025), 1e-15) // h=0.075
	assert.InDelta(t, 4+0.925*4, quantile(s, 0.975), 1e-15) // h=2.925
}

func TestCompareBinaryByHand(t *testing.T) {
	// 10 documents: 3 right under both, 1 only under A, 4 only under B, 2 wrong under both.
	a := []float64{1, 1, 1, 1, 0, 0, 0, 0, 0, 0}
	b := []float64{1, 1, 1, 0, 1, 1, 1, 1, 0, 0}
	r, err := Compare(a, b, Options{Seed: 1234})
	require.NoError(t, err)
	assert.Equal(t, 10, r.N)
	assert.Equal(t, TestMcNemarExact, r.Test)
	assert.Equal(t, 1, r.OnlyA)
	assert.Equal(t, 4, r.OnlyB)
	assert.InDelta(t, 0.4, r.MeanA, 1e-15)
	assert.InDelta(t, 0.7, r.MeanB, 1e-15)
	assert.InDelta(t, 0.3, r.MeanDiff, 1e-15)
	// d = (0,0,0,-1,1,1,1,1,0,0): mean 0.3, sd = sqrt((5·0.09... ) by hand:
	// Σ(d−0.3)² = 5·0.09 + 1·1.69 + 4·0.49 = 0.45+1.69+1.96 = 4.1; sd = sqrt(4.1/9).
	assert.InDelta(t, math.Sqrt(4.1/9)/math.Sqrt(10), r.Stderr, 1e-15)
	assert.InDelta(t, 2*(1.0+5)/32, r.P, 1e-15) // 2·P(X≤1 | 5) = 2·6/32
	assert.False(t, r.Significant())
	assert.LessOrEqual(t, r.CILow, r.MeanDiff)
	assert.GreaterOrEqual(t, r.CIHigh, r.MeanDiff)
}

func TestCompareConstantDifference(t *testing.T) {
	a := []float64{1.5, 2, 3}
	b := []float64{2, 2.5, 3.5}
	r, err := Compare(a, b, Options{Seed: 7, Resamples: 999})
	require.NoError(t, err)
	assert.Equal(t, TestPairedBootstrap, r.Test)
	assert.Equal(t, -1, r.OnlyA)
	assert.InDelta(t, 0.5, r.MeanDiff, 1e-15)
	assert.Equal(t, 0.0, r.Stderr)
	assert.Equal(t, 0.5, r.CILow)
	assert.Equal(t, 0.5, r.CIHigh)
	// Every resampled mean is 0.5 > 0: L = 0, so p = 2·1/1000.
	assert.InDelta(t, 2.0/1000, r.P, 1e-15)
	assert.True(t, r.Significant())

	one, err := Compare([]float64{0.5}, []float64{0.7}, Options{})
	require.NoError(t, err)
	assert.True(t, math.IsNaN(one.P), "one document is no evidence")
	assert.False(t, one.Significant())

	same, err := Compare(a, a, Options{Seed: 7})
	require.NoError(t, err)
	assert.Equal(t, 1.0, same.P)
	assert.Equal(t, 0.0, same.CILow)
	assert.Equal(t, 0.0, same.CIHigh)
}

// The documented bootstrap, written out again: resample, sort, interpolate.
func TestCompareBootstrapAsDocumented(t *testing.T) {
	src := rand.New(rand.NewPCG(1, 2))
	n := 57
	a, b := make([]float64, n), make([]float64, n)
	for i := range a {
		a[i] = src.NormFloat64()
		b[i] = a[i] + 0.2 + 0.5*src.NormFloat64()
	}
	const seed, iters = 99, 2000
	r, err := Compare(a, b, Options{Seed: seed, Resamples: iters, Confidence: 0.9})
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(seed, 0x6d656d73636f7065))
	means := make([]float64, iters)
	le, ge := 0, 0
	for k := range means {
		s := 0.0
		for j := 0; j < n; j++ {
			i := rng.IntN(n)
			s += b[i] - a[i]
		}
		means[k] = s / float64(n)
		if means[k] <= 0 {
			le++
		}
		if means[k] >= 0 {
			ge++
		}
	}
	// Insertion sort: a different sort from the package's.
	for i := 1; i < len(means); i++ {
		for j := i; j > 0 && means[j] < means[j-1]; j-- {
			means[j], means[j-1] = means[j-1], means[j]
		}
	}
	pos := 0.05 * float64(iters-1)
	lo := means[int(pos)] + (pos-math.Floor(pos))*(means[int(pos)+1]-means[int(pos)])
	pos = 0.95 * float64(iters-1)
	hi := means[int(pos)] + (pos-math.Floor(pos))*(means[int(pos)+1]-means[int(pos)])
	assert.InDelta(t, lo, r.CILow, 1e-12)
	assert.InDelta(t, hi, r.CIHigh, 1e-12)
	assert.InDelta(t, math.Min(1, 2*float64(1+min(le, ge))/float64(iters+1)), r.P, 1e-15)
	assert.Less(t, r.CILow, r.MeanDiff)
	assert.Greater(t, r.CIHigh, r.MeanDiff)
}

func TestCompareRejectsBadInput(t *testing.T) {
	_, err := Compare([]float64{1}, []float64{1, 2}, Options{})
	assert.Error(t, err)
	_, err = Compare(nil, nil, Options{})
	assert.Error(t, err)
	_, err = Compare([]float64{math.NaN()}, []float64{1}, Options{})
	assert.Error(t, err)
}
