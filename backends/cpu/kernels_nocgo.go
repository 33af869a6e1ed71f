//go:build !cgo

package cpu

// Without cgo the element-wise kernels are the pure-Go ones.

func biasAct(y, b []float32, rows, n int, act int) { goBiasAct(y, b, rows, n, act) }

func softmax(x []float32) { softmaxRow(x) }

func logitStats(z []float32) (argmax int, logZ, entropy float64) { return rowStats(z) }

func allFinite(x []float32) bool { return goAllFinite(x) }

func layerNormRows(dst, x, w, b []float32, rows, d int, eps float64) {
	for r := 0; r < rows; r++ {
		layerNormRow(dst[r*d:(r+1)*d], x[r*d:(r+1)*d], w, b, eps)
	}
}

// useAVX2 is unused without cgo (kept so tests build in both modes).
var useAVX2 = false

func attendOne(q, K, V []float32, n, hd int, scale float32, out, p []float32) {
	goAttendOne(q, K, V, n, hd, scale, out, p)
}

// gemvRows: without cgo there is no small-M kernel (gemvNT declines).
const gemvRows = 8

func gemvNT(M, N, K int, x, w, c []float32, ldc int) bool { return false }
