#!/bin/bash
# memscope's check of the cuda backend on a GPU machine: the conformance
# tests on the real GPU, then Hugging Face's block sweep and memscope's on
# the same folder and prompts (float16, then float32), then the GPU
# benchmarks. The GPU machine needs no Go: `go tool task gpucheck` builds
# everything into bin/gpucheck/ here (a CGO_ENABLED=0 test binary, this
# script, the HF anchor script). With the device tool: carry
# ["bin/gpucheck"], command `bash bin/gpucheck/gpucheck.sh`, timeout_s 590
# (every step has its own limit; the whole stays under 570 s). Six logs go
# to $OUT (or /tmp/memscope-gpucheck). `gpucheck.sh conformance|sweep|bench`
# runs one stage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-/tmp/memscope-gpucheck}
stage=${1:-all}
mkdir -p "$out" && out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T))"; }
cd "$root/backends/cuda" # the tests read ../testdata

if [ "$stage" = all ] || [ "$stage" = conformance ]; then
	{
		step "GPU"
		nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
		step "1. conformance on the GPU: tiny fixtures (float32 within 1e-4 of HF, float16/bfloat16 reported)"
		timeout 90 "$here/cuda.test" -test.run 'GPU' -test.v -test.timeout 85s 2>&1 <&- || echo "exit $?"
	} 2>&1 | tee "$out/conformance.log"
fi

if [ "$stage" = all ] || [ "$stage" = sweep ]; then
	sweep=${SWEEP_DIR:-/tmp/memscope-p14}
	for dt in float16 float32; do
		step "2. sweep, Pythia-1.4B shape, $dt, 64 prompts of 32 + 32 tokens: HF transformers (eager)"
		timeout 110 python3 "$here/hf_gpu_sweep.py" --shape pythia-1.4b --dir "$sweep" --dtype "$dt" 2>&1 | tee "$out/hf_$dt.log"
		step "2. the same sweep with memscope's cuda engine ($dt), greedy tokens compared with HF's"
		MEMSCOPE_HF_SWEEP_DIR="$sweep" MEMSCOPE_HF_SWEEP_DTYPE="$dt" timeout 80 \
			"$here/cuda.test" -test.run 'TestGPUHFSweep' -test.v -test.timeout 75s 2>&1 | tee "$out/memscope_$dt.log"
	done
fi

if [ "$stage" = all ] || [ "$stage" = bench ]; then
	step "3. benchmarks"
	timeout 100 "$here/cuda.test" -test.run '^$' -test.bench 'GPU' -test.benchtime 2x -test.benchmem 2>&1 | tee "$out/bench.log"
fi
step "done"
