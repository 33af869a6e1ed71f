// Package cpu is memscope's CPU engine: a numerically exact float32 forward
// pass of GPT-NeoX (Pythia) and GPT-Neo checkpoints, with attention
// short-circuit and zero-ablation interventions, teacher-forced scoring,
// greedy generation with a KV cache and raw logits. *Model implements
// engine.Engine.
//
// Matrix products go through gorgonia's tensor engine, which is pointed at
// OpenBLAS (gonum's netlib cgo binding, linked with -lopenblas); the hot
// path calls that BLAS implementation (tensor.WhichBLAS()) directly on
// packed []float32 activations. Built with CGO_ENABLED=0 the same code runs
// on gonum's pure-Go BLAS, about 8× slower.
//
// # Threading
//
// OpenBLAS runs its own worker threads. The engine never runs Go worker
// goroutines while a BLAS call is in flight: element-wise work (layer norm,
// GELU, softmax, log-softmax statistics) is split over Options.Threads
// goroutines only between BLAS calls, and one Model runs one request at a
// time. On 2 cores, oversubscription costs 2–4×.
//
// # OPENBLAS_CORETYPE
//
// Debian's DYNAMIC_ARCH OpenBLAS picks its AVX-512 kernels on AMD Zen 4,
// which are 30–55% slower there than its AVX2 ("Haswell") kernels. The
// variable OPENBLAS_CORETYPE is read only when the library initializes,
// before any Go code runs. So on the first Load, if the CPU is AMD with
// AVX2+FMA, the variable is not set, and OpenBLAS chose an AVX-512 kernel
// set, the engine re-runs OpenBLAS's own kernel selection
// (gotoblas_dynamic_init, exported by DYNAMIC_ARCH builds) with
// OPENBLAS_CORETYPE=Haswell before the first BLAS call. A user's own
// OPENBLAS_CORETYPE always wins; BLASInfo says which kernels are in use.
package cpu
