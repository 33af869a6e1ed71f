#!/bin/bash
# memscope's check of the cuda backend on a GPU machine: the conformance
# tests on the real GPU, then Hugging Face's block sweep and memscope's on
# the same folder and prompts, then the GPU benchmarks. The GPU machine
# needs no Go: `go tool task gpucheck` builds everything into bin/gpucheck/
# here (a CGO_ENABLED=0 test binary, this script, the HF anchor script);
# carry that folder and run `bash bin/gpucheck/gpucheck.sh` from the
# repository root. Logs go to $OUT (or /tmp/memscope-gpucheck).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-/tmp/memscope-gpucheck}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt"

step "1. conformance on the GPU: tiny fixtures (float32 within 1e-4 of HF, float16/bfloat16 reported)"
(cd "$root/backends/cuda" && timeout 300 "$here/cuda.test" -test.run 'GPU' -test.v -test.timeout 280s) 2>&1 | tee "$out/conformance.log"

sweep=${SWEEP_DIR:-/tmp/memscope-p14}
for dt in float16 float32; do
	step "2. sweep, Pythia-1.4B shape, $dt, 64 prompts of 32 + 32 tokens: HF transformers (eager)"
	timeout 240 python3 "$here/hf_gpu_sweep.py" --shape pythia-1.4b --dir "$sweep" --dtype "$dt" 2>&1 | tee "$out/hf_$dt.log"
	cp "$sweep/hf_sweep.json" "$out/hf_sweep_$dt.json" 2>/dev/null
	step "2. the same sweep with memscope's cuda engine ($dt), greedy tokens compared with HF's"
	(cd "$root/backends/cuda" && MEMSCOPE_HF_SWEEP_DIR="$sweep" MEMSCOPE_HF_SWEEP_DTYPE="$dt" timeout 240 \
		"$here/cuda.test" -test.run 'TestGPUHFSweep' -test.v -test.timeout 230s) 2>&1 | tee "$out/memscope_$dt.log"
done

step "3. benchmarks"
(cd "$root/backends/cuda" && timeout 240 "$here/cuda.test" -test.run '^$' -test.bench 'GPU' -test.benchtime 2x -test.benchmem) 2>&1 | tee "$out/bench.log"
step "done"
