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
// Debian's OpenBLAS is a DYNAMIC_ARCH build: it picks a kernel set for the
// CPU when it initializes, before any Go code runs. Two of its choices
// are slow, and on the first Load (or BLAS()) the engine corrects them by
// re-running OpenBLAS's own selection (gotoblas_dynamic_init) with
// OPENBLAS_CORETYPE set, before the first BLAS call (planKernels decides):
//
//   - On a CPU it does not know (0.3.21 on Intel family 6 model 207,
//     Emerald Rapids) it falls back to its generic SSE kernels (Prescott),
//     4–4.5× slower there. The engine picks from what cpuid reports:
//     AVX-512 F/DQ/BW/VL → SkylakeX, with AVX512_BF16 → Cooperlake,
//     AVX2+FMA → Haswell, AVX → Sandybridge.
//   - On AMD Zen 4 (family 0x19), which runs AVX-512 double-pumped, its
//     AVX-512 kernels are 30–55% slower than its AVX2 ("Haswell") ones at
//     our shapes; Zen 5 (family 0x1a, full 512-bit units) keeps AVX-512.
//
// A user's own OPENBLAS_CORETYPE always wins. When the kernels stay
// generic on a CPU that could do better (an OpenBLAS without DYNAMIC_ARCH,
// or the user's choice), BLASSetup.Warning says so; the plugin logs it.
// BLAS() says which kernels are in use and who chose them; `memscope
// backends` shows it and every run records it in its provenance.
// Kernels change rounding only, so the numerics version stays.
package cpu
