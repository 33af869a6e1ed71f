package taskkit

import (
	"math"
	"math/rand/v2"

	"github.com/memscope/memscope/plugins"
)

// Mean is the arithmetic mean (NaN for no values).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// SampleStddev is the standard deviation with Bessel's correction (NaN for
// fewer than two values).
func SampleStddev(xs []float64) float64 {
	n := len(xs)
	if n <= 1 {
		return math.NaN()
	}
	mu := Mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - mu) * (x - mu)
	}
	return math.Sqrt(ss / float64(n-1))
}

// MeanStderr is the closed-form standard error of a mean, as lm-eval's
// mean_stderr: sample standard deviation / sqrt(n); NaN when n <= 1.
func MeanStderr(xs []float64) float64 {
	return SampleStddev(xs) / math.Sqrt(float64(len(xs)))
}

// Argmax is numpy's argmax: the first maximum wins, and a NaN, if any,
// counts as the maximum (the first NaN wins). -1 for an empty slice.
func Argmax(xs []float64) int {
	best := -1
	for i, x := range xs {
		if math.IsNaN(x) {
			return i
		}
		if best < 0 || x > xs[best] {
			best = i
		}
	}
	return best
}

// DefaultBootstrapIters is the resample count of the seeded bootstrap
// (lm-eval defaults to 100000; 10000 estimates a standard error to about
// 0.7% and keeps Score fast on the full datasets).
const DefaultBootstrapIters = 10000

// BootstrapStderr estimates the standard error of a statistic of n
// documents as lm-eval's bootstrap_stderr does: iters resamples of n
// documents drawn with replacement, the statistic of each, and the sample
// standard deviation of those replicates. stat receives the resampled
// document positions (0..n-1); the slice is reused between calls. The
// random stream is a PCG seeded with seed, so the result is reproducible.
// NaN when iters < 2 or n == 0.
func BootstrapStderr(n, iters int, seed int64, stat func(sample []int) float64) float64 {
	if iters < 2 || n == 0 {
		return math.NaN()
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d656d73636f7065)) // "memscope"
	sample := make([]int, n)
	reps := make([]float64, iters)
	for it := range reps {
		for i := range sample {
			sample[i] = rng.IntN(n)
		}
		reps[it] = stat(sample)
	}
	return SampleStddev(reps)
}

// MeanMetric aggregates per-document values as their mean with the
// closed-form standard error.
func MeanMetric(name string, higherIsBetter bool, xs []float64) plugins.MetricValue {
	return plugins.MetricValue{Name: name, Value: Mean(xs), Stderr: MeanStderr(xs), N: len(xs), HigherIsBetter: higherIsBetter}
}
