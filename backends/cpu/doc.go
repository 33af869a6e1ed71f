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
// OpenBLAS runs single-threaded and the engine owns all parallelism
// (Options.Threads goroutines): each matrix product x·Wᵀ is split by output
// columns (rows of W) into one single-threaded OpenBLAS call per thread;
// attention runs one (sequence, head) pair per thread; element-wise work
// (layer norm, bias + GELU, softmax, log-softmax statistics) is split by
// rows. So exactly Threads threads compute at any time: no Go goroutine
// ever computes beside a multi-threaded OpenBLAS call (on 2 cores that
// oversubscription costs 2–4×), and no idle OpenBLAS worker spins
// (sched_yield) beside the Go work between calls. The column split also
// fits decode steps, which are bound by reading the weights: each thread
// streams its own share. One Model runs one request at a time.
// MEMSCOPE_BLAS_THREADING=openblas selects the other scheme (OpenBLAS
// threads each product, the engine's goroutines run only between calls),
// which measured up to 2× slower for greedy decoding on 2 cores.
//
// # OPENBLAS_CORETYPE
//
// Debian's DYNAMIC_ARCH OpenBLAS picks its AVX-512 kernels on AMD Zen 4
// and Zen 5. On Zen 4, which runs AVX-512 double-pumped, they are 30–55%
// slower than its AVX2 ("Haswell") kernels; on Zen 5 they are up to 1.75×
// faster. The variable OPENBLAS_CORETYPE is read only when the library
// initializes, before any Go code runs. So on the first Load, if the CPU
// is AMD family 0x19 (Zen 4) with AVX2+FMA, the variable is not set, and
// OpenBLAS chose an AVX-512 kernel set, the engine re-runs OpenBLAS's own
// kernel selection (gotoblas_dynamic_init, exported by DYNAMIC_ARCH
// builds) with OPENBLAS_CORETYPE=Haswell before the first BLAS call.
// Nobody needs to set anything; a user's own OPENBLAS_CORETYPE always wins
// (note that OPENBLAS_CORETYPE=Haswell makes Zen 5 about 1.75× slower at
// large products). BLASInfo says which kernels are in use.
package cpu
