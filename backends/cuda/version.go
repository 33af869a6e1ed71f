package cuda

// NumericsVersion names what this engine computes; the response cache and
// resumed runs are keyed on it (with the dtype), so bump it when a change
// may move a number it returns (a kernel, a summation order, a fixed bug).
const NumericsVersion = "1"

// Version is the backend version the cuda plugin reports: the numerics
// version and the matrix-product library.
func Version() string { return NumericsVersion + "+cublas" }
