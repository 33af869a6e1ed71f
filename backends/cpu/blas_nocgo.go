//go:build !cgo

package cpu

import (
	"fmt"
	"os"
	"sync"
)

// usesCgoBLAS reports whether matrix products go to OpenBLAS. Without cgo
// gorgonia's tensor engine keeps its default, gonum's pure-Go BLAS.
const usesCgoBLAS = false

var blasSetup sync.Once

func setupBLAS() {
	blasSetup.Do(func() {
		fmt.Fprintln(os.Stderr, "memscope: built without cgo; using pure-Go matrix products (about 8× slower)")
	})
}

func setBLASThreads(int) bool { return false }

// BLAS says which library does the matrix products.
func BLAS() BLASSetup {
	return BLASSetup{Library: "gonum pure-Go BLAS", Chosen: "because memscope was built without cgo",
		Warning: "built without cgo: pure-Go matrix products, about 8× slower than OpenBLAS; build with cgo and libopenblas-dev"}
}

// BLASInfo describes the matrix-product backend in one line.
func BLASInfo() string { return BLAS().String() }
