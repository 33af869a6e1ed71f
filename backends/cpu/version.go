package cpu

// NumericsVersion names what this engine computes. The response cache and
// resumed runs are keyed on the backend's version, so it changes only when a
// change to the model code may move a number it returns (a new kernel, a
// different summation order, a fixed bug), not with every commit. Bump it then.
const NumericsVersion = "1"

// Version is the backend version the CPU plugin reports: the numerics version
// and the matrix-product library, whose rounding differs ("1+openblas",
// "1+purego").
func Version() string {
	if usesCgoBLAS {
		return NumericsVersion + "+openblas"
	}
	return NumericsVersion + "+purego"
}
