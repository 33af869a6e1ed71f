// Package bench holds memscope's tracked speed benchmarks (go test
// -bench). Model benchmarks build random-weight models of real shapes in
// memory (cpu.NewRandom), so no weights live in the repository; their
// shapes are those of the PyTorch CPU anchor below.
//
// Run them with the Taskfile (the README's Speed section has the figures
// and how they were measured):
//
//	go tool task bench                # the suite, 6 samples each, benchstat-ready (OUT=file keeps it)
//	go tool task bench:compare        # merge base with main vs the working tree, interleaved, benchstat
//	go tool task bench:record         # append a run to bench/history/<machine class>.txt
//	go tool task bench:check          # fail if >10% slower than that class's last record
//
// cmd/memscope-bench does the work; package track holds the parsing,
// machine classes, history records and the regression test (benchstat's
// Mann–Whitney U, as `go tool benchstat` itself). TestMain prints the
// OpenBLAS kernel set, cpuid family/model and CPU count as configuration
// lines, so a results file says what it was measured on.
//
// The PyTorch anchor: a minimal GPT-NeoX stack in plain torch with the
// same shapes (a forward of 8 × 64 tokens with logits everywhere; greedy
// 8 × (32 prefix + 32 new) with a KV cache), random fp32 weights, 2
// threads, OMP_WAIT_POLICY=PASSIVE, torch.inference_mode(). Debian's
// python3-torch links the system OpenBLAS, so its OPENBLAS_CORETYPE
// (memscope's choice, printed as blas-kernels) must be set by hand for a
// like-for-like comparison.
package bench
