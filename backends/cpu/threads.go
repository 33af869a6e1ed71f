package cpu

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/tensor"
)

// matmulT computes c = a·bᵀ for a [M, K], b [N, K] and c [M, N] with row
// stride ldc. With Go-side threading the output columns (rows of b, the
// weights) are split over the threads, each running single-threaded BLAS:
// every thread streams its own part of the weights, which is what a
// decode step (small M) is bound by.
func (m *Model) matmulT(M, N, K int, a, b, c []float32, ldc int) {
	if M == 0 || N == 0 {
		return
	}
	workers := 1
	if m.goThreads && 2*M*N*K >= 1<<20 {
		workers = min(m.threads, max(1, N/64))
	}
	// A few rows (decode steps): the weights are read once, unpacked.
	gemv := m.goThreads && M <= gemvRows
	mul := func(n0, n1 int) {
		if !gemv || !gemvNT(M, n1-n0, K, a, b[n0*K:], c[n0:], ldc) {
			m.blas.Sgemm(blas.NoTrans, blas.Trans, M, n1-n0, K, 1, a, K, b[n0*K:], K, 0, c[n0:], ldc)
		}
	}
	if workers <= 1 {
		mul(0, N)
		return
	}
	chunk := (N/workers + 15) &^ 15 // multiple of 16 columns
	m.parallel(workers, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			n0 := min(N, w*chunk)
			n1 := min(N, n0+chunk)
			if w == workers-1 {
				n1 = N
			}
			if n1 > n0 {
				mul(n0, n1)
			}
		}
	})
}

// parallel runs f over [0, n) split across the model's threads, with at
// least grain items per goroutine. It must not be called while a BLAS
// call is running (it never is: the engine calls BLAS from one goroutine).
func (m *Model) parallel(n, grain int, f func(lo, hi int)) {
	workers := m.threads
	if grain < 1 {
		grain = 1
	}
	if w := n / grain; w < workers {
		workers = w
	}
	if workers <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, min(n, chunk))
	wg.Wait()
}

// MatMulT computes c = a·bᵀ (a [M, K], b [N, K], c [M, N]) exactly as the
// engine does with the given thread count, for benchmarks of the
// matrix-product shapes.
func MatMulT(M, N, K int, a, b, c []float32, threads int) {
	setupBLAS()
	m := &Model{threads: max(1, threads), blas: tensor.WhichBLAS()}
	m.goThreads = usesCgoBLAS && goThreading && m.threads > 1 && setBLASThreads(1)
	if !m.goThreads {
		setBLASThreads(m.threads)
	}
	m.matmulT(M, N, K, a, b, c, N)
}
