package cuda

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/cuda/driver"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/internal/npy"
	"github.com/memscope/memscope/intervention"
)

// Tests and benchmarks named GPU run on a real NVIDIA GPU (device 0, or
// $MEMSCOPE_CUDA_DEVICE) and are skipped, saying why, where there is none:
// they check the driver layer (backends/cuda/driver) that the emulator
// does not cover. backends/cuda/gpucheck.sh runs them on a GPU machine.

var gpuOnce = struct {
	dev *driver.Device
	err error
	set bool
}{}

func gpuDevice(t testing.TB) *driver.Device {
	t.Helper()
	if !gpuOnce.set {
		gpuOnce.set = true
		if _, err := driver.Probe(); err != nil {
			gpuOnce.err = err
		} else {
			n := 0
			fmt.Sscan(os.Getenv("MEMSCOPE_CUDA_DEVICE"), &n)
			gpuOnce.dev, gpuOnce.err = driver.Open(n, driver.Options{CacheDir: t.TempDir()})
			if gpuOnce.err != nil {
				t.Fatalf("a GPU is present but cannot be opened: %v", gpuOnce.err)
			}
		}
	}
	if gpuOnce.err != nil {
		t.Skipf("no usable NVIDIA GPU on this machine, so the driver layer is not tested here (the emulator tests cover the kernels and the engine): %v", gpuOnce.err)
	}
	return gpuOnce.dev
}

// TestGPUTinyFixtures: on the GPU, in float32, every tiny fixture is
// within 1e-4 of HF transformers with HF's greedy continuations; float16
// and bfloat16 agreement is reported.
func TestGPUTinyFixtures(t *testing.T) {
	dev := gpuDevice(t)
	t.Logf("device: %s %s, %s", dev.Info().Name, dev.Info().Arch, dev.Info().Detail)
	for _, name := range tinyModels {
		t.Run(name, func(t *testing.T) {
			m := loadTiny(t, dev, name, Options{DType: "float32"})
			r := checkFixture(t, m, name, true)
			t.Logf("GPU %s float32: %d keys, max |Δ| = %.3g, greedy rows equal %d/%d", name, r.keys, r.worst, r.greedyEqual, r.greedyRows)
		})
	}
	for _, dt := range []string{"float16", "bfloat16"} {
		for _, name := range []string{"gptneox-tiny", "gptneo-tiny"} {
			t.Run(dt+"/"+name, func(t *testing.T) {
				m := loadTiny(t, dev, name, Options{DType: dt})
				r := checkFixture(t, m, name, false)
				t.Logf("GPU %s %s: max |Δ| vs HF float32 = %.3g (%.2g relative), greedy rows equal %d/%d", name, dt, r.worst, r.worstRel, r.greedyEqual, r.greedyRows)
				assert.Less(t, r.worstRel, 0.05)
			})
		}
	}
}

// TestGPUMatchesEmulator: the GPU and the CPU emulator run the same
// kernels; their logits for the same model and ids agree to float32
// rounding (the GPU contracts multiply-adds and cuBLAS sums in its own
// order).
func TestGPUMatchesEmulator(t *testing.T) {
	dev := gpuDevice(t)
	emuDev := testDevice(t)
	ref := openTinyRef(t, "gptneo-tiny")
	ctx := context.Background()
	for _, dt := range []string{"float32", "float16"} {
		g := loadTiny(t, dev, "gptneo-tiny", Options{DType: dt})
		e := loadTiny(t, emuDev, "gptneo-tiny", Options{DType: dt})
		iv := intervention.New(intervention.AttnShortCircuit, 1)
		a, err := g.Logits(ctx, ref.ids, iv)
		require.NoError(t, err)
		b, err := e.Logits(ctx, ref.ids, iv)
		require.NoError(t, err)
		d := maxAbsDiff(a, b)
		t.Logf("%s: GPU vs emulator max |Δ| = %.3g", dt, d)
		assert.Less(t, d, 1e-3)
	}
}

// Pythia1_4BConfig is the shape of EleutherAI/pythia-1.4b.
func Pythia1_4BConfig() modelconfig.Config {
	return modelconfig.Config{
		ModelType: modelconfig.GPTNeoX, Architecture: "GPTNeoXForCausalLM",
		VocabSize: 50304, HiddenSize: 2048, NumLayers: 24, NumHeads: 16, IntermediateSize: 8192,
		MaxPositions: 2048, LayerNormEps: 1e-5, Activation: modelconfig.ActGELU,
		RotaryPct: 0.25, RotaryBase: 10000, ParallelResidual: true, AttentionBias: true, TorchDType: "float16",
	}
}

// sweep runs the paper's sweep on one batch: the baseline and each
// block's attention short-circuited, each scoring every prompt
// teacher-forced and generating newTok greedy tokens after prefix tokens
// (what shared/tools/hf_gpu_sweep.py times with HF). It returns the
// greedy tokens per configuration ("none", "attn-sc:K").
func sweep(ctx context.Context, m *Model, prompts [][]int32, prefix, newTok int) (map[string][][]int32, error) {
	seqs := make([]engine.Sequence, len(prompts))
	pre := make([][]int32, len(prompts))
	for i, p := range prompts {
		seqs[i] = engine.Sequence{Tokens: p, ScoreFrom: 1}
		pre[i] = p[:prefix]
	}
	out := map[string][][]int32{}
	ivs := []intervention.Intervention{intervention.Baseline()}
	for k := 0; k < m.Config().NumLayers; k++ {
		ivs = append(ivs, intervention.New(intervention.AttnShortCircuit, k))
	}
	for _, iv := range ivs {
		if _, err := m.Score(ctx, seqs, iv); err != nil {
			return nil, err
		}
		gens, err := m.Generate(ctx, pre, newTok, iv)
		if err != nil {
			return nil, err
		}
		key := "none"
		if !iv.IsBaseline() {
			key = fmt.Sprintf("attn-sc:%d", iv.Blocks[0])
		}
		for _, g := range gens {
			out[key] = append(out[key], g.IDs)
		}
	}
	return out, nil
}

// TestGPUHFSweep compares memscope's sweep with Hugging Face's on the same
// GPU, weights and prompts: $MEMSCOPE_HF_SWEEP_DIR is a folder that
// shared/tools/hf_gpu_sweep.py filled (config.json, model.safetensors,
// prompts.npy, hf_sweep.json). It reports the time against HF's and the
// share of greedy rows equal to HF's, per dtype ($MEMSCOPE_HF_SWEEP_DTYPE,
// default the one HF ran).
func TestGPUHFSweep(t *testing.T) {
	dir := os.Getenv("MEMSCOPE_HF_SWEEP_DIR")
	if dir == "" {
		t.Skip("set MEMSCOPE_HF_SWEEP_DIR to a folder made by shared/tools/hf_gpu_sweep.py to compare with HF (backends/cuda/gpucheck.sh does)")
	}
	dev := gpuDevice(t)
	var hf struct {
		Device       string  `json:"device"`
		DType        string  `json:"dtype"`
		Prefix       int     `json:"prefix"`
		New          int     `json:"new"`
		SweepSeconds float64 `json:"sweep_seconds"`
		Configs      map[string]struct {
			Greedy [][]int32 `json:"greedy"`
		} `json:"configs"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "hf_sweep.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &hf))
	arr, err := npy.ReadFile(filepath.Join(dir, "prompts.npy"))
	require.NoError(t, err)
	prompts, err := arr.Int32Matrix()
	require.NoError(t, err)
	dt := os.Getenv("MEMSCOPE_HF_SWEEP_DTYPE")
	if dt == "" {
		dt = hf.DType
	}
	m, err := Load(dev, dir, Options{DType: dt})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	_, err = sweep(ctx, m, prompts[:2], hf.Prefix, 2) // warm-up (kernels, workspace)
	require.NoError(t, err)
	start := time.Now()
	got, err := sweep(ctx, m, prompts, hf.Prefix, hf.New)
	require.NoError(t, err)
	require.NoError(t, dev.Sync())
	took := time.Since(start).Seconds()
	rows, equal := 0, 0
	for key, c := range hf.Configs {
		for i, want := range c.Greedy {
			rows++
			if assert.ObjectsAreEqual(want, got[key][i]) {
				equal++
			}
		}
	}
	t.Logf("HF sweep (%s, %s on %s): %.2f s; memscope (%s): %.2f s = %.2f× HF; greedy rows equal to HF's: %d/%d (%.1f%%)",
		hf.DType, "transformers", hf.Device, hf.SweepSeconds, dt, took, took/hf.SweepSeconds, equal, rows, 100*float64(equal)/float64(rows))
	if dt == "float32" && hf.DType == "float32" {
		assert.GreaterOrEqual(t, float64(equal), 0.99*float64(rows), "float32 greedy rows equal to HF's")
	}
}

var gpuPythia struct {
	m   *Model
	err error
}

func pythia14B(b *testing.B) *Model {
	dev := gpuDevice(b)
	if gpuPythia.m == nil && gpuPythia.err == nil {
		gpuPythia.m, gpuPythia.err = NewRandom(dev, Pythia1_4BConfig(), 0, Options{DType: "float16"})
	}
	if gpuPythia.err != nil {
		b.Fatal(gpuPythia.err)
	}
	return gpuPythia.m
}

func randomPrompts(n, tokens, vocab int) [][]int32 {
	rng := rand.New(rand.NewPCG(7, 8))
	out := make([][]int32, n)
	for i := range out {
		out[i] = make([]int32, tokens)
		for j := range out[i] {
			out[i][j] = int32(rng.IntN(vocab))
		}
	}
	return out
}

// BenchmarkGPUSweepPythia1_4B: the target workload, Pythia-1.4B
// shape in float16, 64 prompts of 32 + 32 tokens, baseline + each of 24
// blocks (HF eager took 13.3 s on an H100).
func BenchmarkGPUSweepPythia1_4B(b *testing.B) {
	m := pythia14B(b)
	prompts := randomPrompts(64, 64, m.Config().VocabSize)
	ctx := context.Background()
	for b.Loop() {
		if _, err := sweep(ctx, m, prompts, 32, 32); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGPUScorePythia1_4B: teacher-forced scoring of 64 × 64 tokens.
func BenchmarkGPUScorePythia1_4B(b *testing.B) {
	m := pythia14B(b)
	prompts := randomPrompts(64, 64, m.Config().VocabSize)
	seqs := make([]engine.Sequence, len(prompts))
	for i, p := range prompts {
		seqs[i] = engine.Sequence{Tokens: p, ScoreFrom: 1}
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := m.Score(ctx, seqs, intervention.Baseline()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGPUGreedyPythia1_4B: 32 greedy tokens after 32 for 64 prompts.
func BenchmarkGPUGreedyPythia1_4B(b *testing.B) {
	m := pythia14B(b)
	prompts := randomPrompts(64, 32, m.Config().VocabSize)
	ctx := context.Background()
	for b.Loop() {
		if _, err := m.Generate(ctx, prompts, 32, intervention.Baseline()); err != nil {
			b.Fatal(err)
		}
	}
}
