package results_test

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/results"
)

// pairedRun writes a run whose documents have real 0/1 accuracies and
// continuous scores: the baseline, blocks 0-3 alone and blocks 2,3
// together, on a benchmark (acc, 0/1) and a memorization task
// (exact_match 0/1, token_accuracy in [0,1]). Docs are added out of order
// and block 1 lacks document 7, as a crashed-and-resumed cell might.
func pairedRun(t *testing.T, seed int64) string {
	t.Helper()
	dir := t.TempDir()
	info := results.RunInfo{RunID: "paired-run", Seed: seed}
	w, err := results.Create(dir, info)
	require.NoError(t, err)
	src := rand.New(rand.NewPCG(42, 43))
	const n = 160
	base := make([]float64, n)
	for i := range base {
		base[i] = float64(src.IntN(2))
	}
	memBase := make([]float64, n)
	for i := range memBase {
		memBase[i] = float64(src.IntN(33)) / 32
	}
	ivs := []intervention.Intervention{
		intervention.Baseline(),
		intervention.New(intervention.AttnShortCircuit, 0),
		intervention.New(intervention.AttnShortCircuit, 1),
		intervention.New(intervention.AttnShortCircuit, 2),
		intervention.New(intervention.AttnShortCircuit, 3),
		intervention.New(intervention.AttnShortCircuit, 2, 3),
	}
	flip := []float64{0, 0.35, 0.02, 0.12, 0.05, 0.3} // chance that a right answer goes wrong
	for k, iv := range ivs {
		for _, task := range []string{"bench", "memorization"} {
			cell := results.Cell{Model: "m", ModelHash: "sha256:m", Backend: "cpu", DType: "float32", Intervention: iv,
				Task: task, TaskVersion: "1", TaskCategory: map[string]string{"bench": "reasoning", "memorization": "memorization"}[task]}
			res := results.CellResult{Cell: cell}
			order := src.Perm(n)
			var accSum float64
			for _, d := range order {
				if k == 2 && d == 7 {
					continue
				}
				doc := results.DocRow{DocIndex: d, Gold: -1, Prediction: -1, Metrics: map[string]float64{}}
				if task == "bench" {
					v := base[d]
					if v == 1 && src.Float64() < flip[k] {
						v = 0
					} else if v == 0 && src.Float64() < flip[k]/4 {
						v = 1
					}
					doc.Metrics["acc"] = v
					accSum += v
				} else {
					em := 0.0
					ta := memBase[d]
					if k > 0 {
						ta = math.Max(0, ta-flip[k]*src.Float64())
					}
					if ta == 1 {
						em = 1
					}
					doc.Metrics["exact_match"] = em
					doc.Metrics["token_accuracy"] = ta
				}
				res.Docs = append(res.Docs, doc)
			}
			if task == "bench" {
				res.Metrics = []results.MetricRow{{Metric: "acc", Value: accSum / float64(len(res.Docs)), N: len(res.Docs), HigherIsBetter: true}}
			} else {
				res.Metrics = []results.MetricRow{{Metric: "exact_match", Value: 0, N: n, HigherIsBetter: true}}
			}
			require.NoError(t, w.Add(res))
		}
	}
	require.NoError(t, w.Close())
	return dir
}

// rawTable reads every record of an Arrow IPC file with arrow's own reader.
func rawTable(t *testing.T, path string) (*arrow.Schema, []arrow.Record) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	r, err := ipc.NewFileReader(f)
	require.NoError(t, err)
	var recs []arrow.Record
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		require.NoError(t, err)
		rec.Retain()
		recs = append(recs, rec)
	}
	return r.Schema(), recs
}

func str(a arrow.Array, i int) string {
	if d, ok := a.(*array.Dictionary); ok {
		return d.Dictionary().(*array.String).Value(d.GetValueIndex(i))
	}
	return a.(*array.String).Value(i)
}

func nullF(a arrow.Array, i int) float64 {
	if a.IsNull(i) {
		return math.NaN()
	}
	return a.(*array.Float64).Value(i)
}

func col(s *arrow.Schema, rec arrow.Record, name string) arrow.Array {
	return rec.Column(s.FieldIndices(name)[0])
}

// mcnemarRational is the exact two-sided McNemar p in rational arithmetic.
func mcnemarRational(b, c int) float64 {
	n, k := b+c, min(b, c)
	sum, term := new(big.Int), big.NewInt(1)
	for i := 0; i <= k; i++ {
		sum.Add(sum, term)
		term.Mul(term, big.NewInt(int64(n-i)))
		term.Quo(term, big.NewInt(int64(i+1)))
	}
	p, _ := new(big.Rat).SetFrac(new(big.Int).Lsh(sum, 1), new(big.Int).Lsh(big.NewInt(1), uint(n))).Float64()
	return math.Min(1, p)
}

// TestComparisonsFromDocsIndependently recomputes comparisons.arrow from
// docs.arrow without the results package: arrow's reader, McNemar in
// exact rationals, the documented bootstrap written out, Holm by hand.
func TestComparisonsFromDocsIndependently(t *testing.T) {
	const seed = 2024
	dir := pairedRun(t, seed)

	// docs.arrow → intervention → task/metric → doc → value.
	scores := map[string]map[string]map[int]float64{}
	ds, recs := rawTable(t, filepath.Join(dir, "docs.arrow"))
	for _, rec := range recs {
		for i := range int(rec.NumRows()) {
			iv := str(col(ds, rec, "intervention"), i)
			task := str(col(ds, rec, "task"), i)
			doc := int(col(ds, rec, "doc_index").(*array.Int64).Value(i))
			for _, m := range []string{"acc", "exact_match", "token_accuracy"} {
				a := col(ds, rec, m).(*array.Float64)
				if a.IsNull(i) {
					continue
				}
				if scores[iv] == nil {
					scores[iv] = map[string]map[int]float64{}
				}
				k := task + "/" + m
				if scores[iv][k] == nil {
					scores[iv][k] = map[int]float64{}
				}
				scores[iv][k][doc] = a.Value(i)
			}
		}
	}

	type row struct {
		iv, key, test                            string
		n                                        int
		refMean, mean, diff, se, lo, hi, p, holm float64
		relLo, relHi                             float64
		sig                                      bool
		onlyRef, onlyIv                          int64
	}
	cs, crecs := rawTable(t, filepath.Join(dir, "comparisons.arrow"))
	md := cs.Metadata()
	assert.Equal(t, strconv.Itoa(seed), md.Values()[md.FindKey("memscope.bootstrap_seed")])
	assert.Equal(t, "10000", md.Values()[md.FindKey("memscope.bootstrap_resamples")])
	var got []row
	for _, rec := range crecs {
		f := func(name string, i int) float64 { return col(cs, rec, name).(*array.Float64).Value(i) }
		for i := range int(rec.NumRows()) {
			assert.Equal(t, "none", str(col(cs, rec, "reference"), i))
			r := row{iv: str(col(cs, rec, "intervention"), i), key: str(col(cs, rec, "task"), i) + "/" + str(col(cs, rec, "metric"), i),
				test: str(col(cs, rec, "test"), i), n: int(col(cs, rec, "n").(*array.Int64).Value(i)),
				refMean: f("reference_mean", i), mean: f("mean", i), diff: f("mean_diff", i), se: f("stderr", i),
				lo: f("ci_low", i), hi: f("ci_high", i), p: f("p_value", i), holm: f("p_holm", i),
				relLo: nullF(col(cs, rec, "rel_ci_low"), i), relHi: nullF(col(cs, rec, "rel_ci_high"), i),
				sig: col(cs, rec, "significant").(*array.Boolean).Value(i), onlyRef: -1, onlyIv: -1}
			if a := col(cs, rec, "n_reference_only").(*array.Int64); a.IsValid(i) {
				r.onlyRef = a.Value(i)
				r.onlyIv = col(cs, rec, "n_intervention_only").(*array.Int64).Value(i)
			}
			got = append(got, r)
		}
	}
	require.Len(t, got, 5*3, "5 configurations × (acc, exact_match, token_accuracy)")

	holmIn := map[string][]int{} // task/metric → rows, for Holm by hand
	for gi, g := range got {
		ref, cur := scores["none"][g.key], scores[g.iv][g.key]
		var docs []int
		for d := range cur {
			if _, ok := ref[d]; ok {
				docs = append(docs, d)
			}
		}
		sort.Ints(docs)
		require.Equal(t, len(docs), g.n, "%s %s", g.iv, g.key)
		if g.iv == "attn-sc:1" {
			assert.Equal(t, 159, g.n, "document 7 is missing from block 1: 159 pairs")
		}
		d := make([]float64, len(docs))
		sa, sb := 0.0, 0.0
		b, c := 0, 0
		binary := true
		for i, doc := range docs {
			x, y := ref[doc], cur[doc]
			d[i] = y - x
			sa += x
			sb += y
			if x == 1 && y == 0 {
				b++
			}
			if x == 0 && y == 1 {
				c++
			}
			binary = binary && (x == 0 || x == 1) && (y == 0 || y == 1)
		}
		n := float64(len(d))
		assert.InDelta(t, sa/n, g.refMean, 1e-12)
		assert.InDelta(t, sb/n, g.mean, 1e-12)
		assert.InDelta(t, (sb-sa)/n, g.diff, 1e-12)
		ss := 0.0
		for _, x := range d {
			ss += (x - g.diff) * (x - g.diff)
		}
		assert.InDelta(t, math.Sqrt(ss/(n-1)/n), g.se, 1e-12)

		rng := rand.New(rand.NewPCG(seed, 0x6d656d73636f7065))
		means := make([]float64, 10000)
		rels := make([]float64, 10000)
		zeroRef := false
		for k := range means {
			s, sr := 0.0, 0.0
			for range d {
				i := rng.IntN(len(d))
				s += d[i]
				sr += ref[docs[i]]
			}
			means[k] = s / n
			rels[k] = s / math.Abs(sr)
			zeroRef = zeroRef || sr == 0
		}
		le, ge := 0, 0
		for _, m := range means {
			if m <= 0 {
				le++
			}
			if m >= 0 {
				ge++
			}
		}
		sort.Float64s(means)
		q := func(p float64) float64 {
			h := p * 9999
			i := int(h)
			return means[i] + (h-float64(i))*(means[i+1]-means[i])
		}
		assert.InDelta(t, q(0.025), g.lo, 1e-12, "%s %s", g.iv, g.key)
		assert.InDelta(t, q(0.975), g.hi, 1e-12, "%s %s", g.iv, g.key)
		if zeroRef {
			assert.True(t, math.IsNaN(g.relLo), "a resample with reference mean 0 leaves the relative interval undefined")
		} else {
			sort.Float64s(rels)
			qr := func(p float64) float64 {
				h := p * 9999
				i := int(h)
				return rels[i] + (h-float64(i))*(rels[i+1]-rels[i])
			}
			assert.InDelta(t, qr(0.025), g.relLo, 1e-12, "%s %s", g.iv, g.key)
			assert.InDelta(t, qr(0.975), g.relHi, 1e-12, "%s %s", g.iv, g.key)
			assert.GreaterOrEqual(t, g.relLo, -1.0, "a relative change of a non-negative metric is never below -100%")
		}
		if binary {
			assert.Equal(t, "mcnemar_exact", g.test, g.key)
			assert.EqualValues(t, b, g.onlyRef)
			assert.EqualValues(t, c, g.onlyIv)
			assert.InEpsilon(t, mcnemarRational(b, c), g.p, 1e-9, "%s %s b=%d c=%d", g.iv, g.key, b, c)
		} else {
			assert.Equal(t, "paired_bootstrap", g.test, g.key)
			assert.EqualValues(t, -1, g.onlyRef)
			assert.InDelta(t, math.Min(1, 2*float64(1+min(le, ge))/10001), g.p, 1e-15)
		}
		assert.Equal(t, g.p < 0.05, g.sig)
		holmIn[g.key] = append(holmIn[g.key], gi)
	}
	// Holm within each task/metric over the 5 configurations of the sweep.
	for key, idx := range holmIn {
		require.Len(t, idx, 5, key)
		sort.Slice(idx, func(a, b int) bool { return got[idx[a]].p < got[idx[b]].p })
		running := 0.0
		for j, i := range idx {
			running = math.Max(running, math.Min(1, float64(5-j)*got[i].p))
			assert.InDelta(t, running, got[i].holm, 1e-15, "%s %s", key, got[i].iv)
		}
	}
	// The data were made so: block 0 loses many right answers, block 1 next to none.
	for _, g := range got {
		if g.key == "bench/acc" && g.iv == "attn-sc:0" {
			assert.True(t, g.sig, "block 0's accuracy drop is significant (p=%g)", g.p)
		}
		if g.key == "bench/acc" && g.iv == "attn-sc:1" {
			assert.False(t, g.sig, "block 1's change is noise (p=%g)", g.p)
		}
	}
}

// results compare recomputes the stored table exactly, and can compare
// any two configurations.
func TestCompareRecomputesStoredTable(t *testing.T) {
	dir := pairedRun(t, 77)
	stored, err := results.ReadComparisons(dir)
	require.NoError(t, err)
	again, info, err := results.Compare(dir, results.CompareOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 77, info.Seed)
	require.Equal(t, len(stored), len(again))
	for i := range stored {
		a, b := stored[i], again[i]
		assert.Equal(t, a.Intervention.String(), b.Intervention.String())
		assert.Equal(t, a.Metric, b.Metric)
		assert.Equal(t, fmt.Sprintf("%+v", a.Result), fmt.Sprintf("%+v", b.Result), "%s %s (NaN prints alike)", a.Intervention, a.Metric)
		assert.Equal(t, a.PHolm, b.PHolm)
		if a.Metric == "token_accuracy" {
			assert.Nil(t, a.HigherIsBetter, "no aggregate of that name says which way is better")
		} else {
			require.NotNil(t, a.HigherIsBetter)
			assert.True(t, *a.HigherIsBetter)
		}
	}

	out := filepath.Join(t.TempDir(), "c.arrow")
	two, err := results.WriteComparisons(dir, out, results.CompareOptions{
		Reference:     intervention.New(intervention.AttnShortCircuit, 2),
		Interventions: []intervention.Intervention{intervention.New(intervention.AttnShortCircuit, 2, 3)},
	})
	require.NoError(t, err)
	require.Len(t, two, 3)
	for _, c := range two {
		assert.Equal(t, "attn-sc:2", c.Reference.String())
		assert.Equal(t, "attn-sc:2,3", c.Intervention.String())
		assert.Equal(t, c.P, c.PHolm, "a family of one needs no correction")
	}
	back, err := results.ReadComparisons(filepath.Dir(out)) // no comparisons.arrow there, no run either
	assert.Error(t, err)
	assert.Nil(t, back)
}
