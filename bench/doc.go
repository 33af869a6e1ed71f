// Package bench holds memscope's speed benchmarks (go test -bench; compare
// runs with benchstat). Model benchmarks build random-weight models of real
// shapes in memory (cpu.NewRandom), so no weights live in the repository.
//
// The PyTorch anchor for the same shapes is /work/shared/tools/torch_neox.py
// (see shared/notes/perf-anchors.md); run it side by side on the same
// machine with OMP_WAIT_POLICY=PASSIVE and 2 threads.
package bench
