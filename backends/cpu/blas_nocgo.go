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

// BLASInfo describes the matrix-product backend.
func BLASInfo() string { return "gonum pure-Go BLAS (built without cgo)" }
