// Package paired compares two configurations of one model that scored the
// same documents: the paired difference of a per-document metric, its
// standard error, a percentile bootstrap interval, and a p-value (the
// exact McNemar test for 0/1 metrics, the paired bootstrap for the rest),
// plus Holm's correction across a family of comparisons.
//
// Everything is deterministic: the bootstrap draws from a PCG generator
// seeded with the caller's seed, so a comparison recomputed from the same
// per-document scores gives the same numbers, bit for bit.
package paired

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mathext"
)

// DefaultResamples is the number of bootstrap resamples.
const DefaultResamples = 10000

// DefaultConfidence is the coverage of the interval (95%).
const DefaultConfidence = 0.95

// Alpha is the significance level a change is marked at.
const Alpha = 0.05

// Stream is the PCG stream of the bootstrap ("memscope" in ASCII), the one
// taskkit's bootstrap standard errors use.
const Stream = 0x6d656d73636f7065

// Tests that produce the p-value (the test column of comparisons.arrow).
const (
	TestMcNemarExact    = "mcnemar_exact"
	TestPairedBootstrap = "paired_bootstrap"
)

// Options tunes Compare.
type Options struct {
	Seed       int64   // bootstrap seed
	Resamples  int     // 0: DefaultResamples
	Confidence float64 // 0: DefaultConfidence
}

// Result is one paired comparison of B (the intervention) against A (the
// reference).
type Result struct {
	N             int     // paired documents
	MeanA, MeanB  float64 // means of the metric over the paired documents
	MeanDiff      float64 // mean of B−A
	Stderr        float64 // standard error of MeanDiff: sd(B−A)/sqrt(n); NaN when n < 2
	CILow, CIHigh float64 // percentile bootstrap interval of MeanDiff
	// RelLow and RelHigh are the percentile bootstrap interval of the
	// relative change MeanDiff/|MeanA|, from the same resamples (each
	// resample's own ratio, so the interval respects the metric's bounds:
	// never below -100% for a metric that cannot go negative). NaN when
	// MeanA is 0 or a resample's reference mean is.
	RelLow, RelHigh float64
	Test            string  // TestMcNemarExact or TestPairedBootstrap
	P               float64 // two-sided p-value of "no change"; NaN when undefined
	// OnlyA and OnlyB count the discordant documents of a 0/1 metric:
	// 1 under A and 0 under B, and the reverse (McNemar's b and c);
	// -1 for other metrics.
	OnlyA, OnlyB int
}

// Significant reports whether the change is significant at Alpha.
func (r Result) Significant() bool { return r.P < Alpha }

// Compare compares the per-document scores a (reference) and b
// (intervention) of the same documents, a[i] and b[i] being one document.
//
// The interval is the percentile bootstrap of the mean difference: each of
// opt.Resamples resamples draws n document positions with replacement
// (rng.IntN(n), n times, from rand.New(rand.NewPCG(uint64(seed), Stream))),
// and the interval's ends are the (1−confidence)/2 and (1+confidence)/2
// quantiles of the resampled means, linearly interpolated between order
// statistics (numpy.quantile's default). Every comparison starts its own
// generator, so comparisons of the same documents resample them alike.
//
// When every score is 0 or 1 the p-value is McNemar's exact test: twice
// the binomial(b+c, 1/2) probability of at most min(b, c), capped at 1.
// Otherwise it is the paired bootstrap's: 2·(1+min(L, G))/(R+1), capped at
// 1, where L and G count the resampled means ≤ 0 and ≥ 0 (the percentile
// interval inverted, with the usual +1 so that it is never 0); NaN for a
// single document.
func Compare(a, b []float64, opt Options) (Result, error) {
	if len(a) != len(b) {
		return Result{}, errors.New("paired: the two configurations have different numbers of documents")
	}
	if len(a) == 0 {
		return Result{}, errors.New("paired: no documents")
	}
	for i := range a {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) || math.IsInf(a[i], 0) || math.IsInf(b[i], 0) {
			return Result{}, errors.New("paired: a score is NaN or infinite")
		}
	}
	if opt.Resamples <= 0 {
		opt.Resamples = DefaultResamples
	}
	if opt.Confidence <= 0 || opt.Confidence >= 1 {
		opt.Confidence = DefaultConfidence
	}
	n := len(a)
	d := make([]float64, n)
	for i := range a {
		d[i] = b[i] - a[i]
	}
	r := Result{N: n, MeanA: mean(a), MeanB: mean(b), MeanDiff: mean(d), Stderr: math.NaN(), OnlyA: -1, OnlyB: -1}
	if n > 1 {
		r.Stderr = stddev(d) / math.Sqrt(float64(n))
	}
	reps, rels := bootstrapMeans(a, b, opt.Resamples, opt.Seed)
	lo, hi := (1-opt.Confidence)/2, (1+opt.Confidence)/2
	sorted := slices.Clone(reps)
	sort.Float64s(sorted)
	r.CILow, r.CIHigh = quantile(sorted, lo), quantile(sorted, hi)
	r.RelLow, r.RelHigh = math.NaN(), math.NaN()
	if rels != nil {
		sort.Float64s(rels)
		r.RelLow, r.RelHigh = quantile(rels, lo), quantile(rels, hi)
	}
	if binary(a) && binary(b) {
		r.Test = TestMcNemarExact
		r.OnlyA, r.OnlyB = 0, 0
		for i := range a {
			switch {
			case a[i] == 1 && b[i] == 0:
				r.OnlyA++
			case a[i] == 0 && b[i] == 1:
				r.OnlyB++
			}
		}
		r.P = McNemarExact(r.OnlyA, r.OnlyB)
		return r, nil
	}
	r.Test = TestPairedBootstrap
	if n < 2 {
		// One document resamples to itself: no evidence either way.
		r.P = math.NaN()
		return r, nil
	}
	le, ge := 0, 0
	for _, m := range reps {
		if m <= 0 {
			le++
		}
		if m >= 0 {
			ge++
		}
	}
	r.P = math.Min(1, 2*float64(1+min(le, ge))/float64(opt.Resamples+1))
	return r, nil
}

// McNemarExact is the two-sided exact McNemar p-value for b documents that
// only the reference gets right and c that only the intervention does:
// 2·P(X ≤ min(b, c)) for X ~ Binomial(b+c, 1/2), capped at 1 (1 when
// b+c = 0).
func McNemarExact(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	if 2*k >= n {
		return 1
	}
	// P(X ≤ k) = I_{1/2}(n−k, k+1), the regularized incomplete beta.
	return math.Min(1, 2*mathext.RegIncBeta(float64(n-k), float64(k+1), 0.5))
}

// Holm adjusts the p-values of one family of tests (Holm–Bonferroni): the
// i-th smallest of m becomes max over j ≤ i of min(1, (m−j+1)·p_(j)). The
// result is in the order of ps; NaNs stay NaN and do not count in m.
func Holm(ps []float64) []float64 {
	out := make([]float64, len(ps))
	var idx []int
	for i, p := range ps {
		out[i] = math.NaN()
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(x, y int) bool { return ps[idx[x]] < ps[idx[y]] })
	m := len(idx)
	running := 0.0
	for j, i := range idx {
		running = math.Max(running, math.Min(1, float64(m-j)*ps[i]))
		out[i] = running
	}
	return out
}

// bootstrapMeans returns, for each resample of the documents (see
// Compare), the mean difference b−a and the relative change
// (mean b − mean a)/|mean a|; rels is nil when a resample's mean a is 0.
func bootstrapMeans(a, b []float64, resamples int, seed int64) (diffs, rels []float64) {
	n := len(a)
	rng := rand.New(rand.NewPCG(uint64(seed), Stream))
	diffs = make([]float64, resamples)
	rels = make([]float64, resamples)
	for k := range diffs {
		sa, sb := 0.0, 0.0
		for range n {
			i := rng.IntN(n)
			sa += a[i]
			sb += b[i]
		}
		diffs[k] = (sb - sa) / float64(n)
		if sa == 0 {
			rels = nil
		}
		if rels != nil {
			rels[k] = (sb - sa) / math.Abs(sa)
		}
	}
	return diffs, rels
}

// quantile is numpy.quantile's linear interpolation on sorted values.
func quantile(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

func binary(xs []float64) bool {
	for _, x := range xs {
		if x != 0 && x != 1 {
			return false
		}
	}
	return true
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func stddev(xs []float64) float64 {
	m := mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}
