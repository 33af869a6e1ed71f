// Package weights fills an engine's own memory with a model's parameters:
// from a checkpoint (Load) or random (Random), tensor by tensor in the
// architecture's engine layout (arch.Tensor). The engine decides where
// each tensor goes (a CPU arena, a GPU's pinned staging buffer) and what
// to do once it is filled (keep it, upload it); it never names an HF
// tensor or rearranges one.
package weights

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
)

// Sink is an engine's side of loading. Buffers are float32, the compute
// dtype of every engine today; an engine computing in another dtype adds
// the conversion here (one place), not its own tensor map.
type Sink interface {
	// Buffer returns where tensor t goes: exactly t.Elements() values,
	// which the loader overwrites.
	Buffer(t arch.Tensor) ([]float32, error)
	// Filled is called once buf holds the tensor.
	Filled(t arch.Tensor, buf []float32) error
}

// Load reads every parameter of ck's architecture into sink, in the
// architecture's order, converting F16/BF16 to float32 and assembling
// split tensors (GPT-Neo's q, k, v) into the engine layout. Errors name
// the tensor and the file; a wrong shape is "for this config.json".
//
// It also lists the stored tensors that hold NaN or ±Inf (by HF name):
// whether to refuse them (engine.NonFiniteWeightsError) is the engine's
// load option, not the loader's.
func Load(ck *checkpoint.Checkpoint, sink Sink) ([]engine.NonFiniteTensor, error) {
	a, err := arch.For(ck.Config)
	if err != nil {
		return nil, err
	}
	var nonFinite []engine.NonFiniteTensor
	check := func(name string, v []float32) {
		if c := engine.CountNonFinite(v); c.Bad() > 0 {
			nonFinite = append(nonFinite, engine.NonFiniteTensor{Name: name, Count: c})
		}
	}
	for _, t := range a.Tensors(ck.Config) {
		buf, err := sink.Buffer(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		if len(buf) != t.Elements() {
			return nil, fmt.Errorf("%s: the engine gave a buffer of %d values for %d", t, len(buf), t.Elements())
		}
		if err := read(ck, t, buf, check); err != nil {
			return nil, err
		}
		if err := sink.Filled(t, buf); err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
	}
	return nonFinite, nil
}

// read fills dst with tensor t from its sources and hands each source's
// values to check.
func read(ck *checkpoint.Checkpoint, t arch.Tensor, dst []float32, check func(name string, v []float32)) error {
	switch t.Layout {
	case arch.AsStored:
		if err := checkShape(ck, t.Sources[0], t.Shape); err != nil {
			return err
		}
		if err := ck.Float32Into(t.Sources[0], dst); err != nil {
			return err
		}
		check(t.Sources[0], dst)
		return nil
	case arch.QKVPerHead:
		D := t.Shape[1]
		parts := make([][]float32, 3)
		for j, name := range t.Sources {
			v, err := ck.Require(name, D, D)
			if err != nil {
				return err
			}
			check(name, v)
			parts[j] = v
		}
		interleaveQKV(dst, parts[0], parts[1], parts[2], t.Heads, D)
		return nil
	}
	return fmt.Errorf("%s: unknown layout %d", t, t.Layout)
}

// checkShape reports a stored tensor whose shape is not the one the
// configuration implies (a missing tensor is reported by the read).
func checkShape(ck *checkpoint.Checkpoint, name string, shape []int) error {
	info, ok := ck.Info(name)
	if ok && !slices.Equal(info.Shape, shape) {
		return fmt.Errorf("tensor %s in %s has shape %v, want %v for this config.json", name, info.File, info.Shape, shape)
	}
	return nil
}

// interleaveQKV stacks separate [D, D] q, k, v projections into dst
// [3D, D] whose rows go head by head as (q, k, v) blocks of head_dim rows.
func interleaveQKV(dst, q, k, v []float32, heads, D int) {
	hd := D / heads
	for h := 0; h < heads; h++ {
		for j, src := range [][]float32{q, k, v} {
			copy(dst[(h*3+j)*hd*D:(h*3+j+1)*hd*D], src[h*hd*D:(h+1)*hd*D])
		}
	}
}

// Random fills sink with random parameters of cfg's shape (normal with
// std 0.02 as HF initializes, layer norms 1 and 0), drawn in the
// architecture's tensor order from a PCG seeded with seed: for benchmarks
// and tests that need a model of a real size without its weights on disk.
func Random(cfg modelconfig.Config, seed uint64, sink Sink) error {
	a, err := arch.For(cfg)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d656d73636f7065))
	for _, t := range a.Tensors(cfg) {
		buf, err := sink.Buffer(t)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		if len(buf) != t.Elements() {
			return fmt.Errorf("%s: the engine gave a buffer of %d values for %d", t, len(buf), t.Elements())
		}
		for i := range buf {
			switch t.Init {
			case arch.InitNormal:
				buf[i] = float32(rng.NormFloat64() * 0.02)
			case arch.InitOnes:
				buf[i] = 1
			case arch.InitZeros:
				buf[i] = 0
			}
		}
		if err := sink.Filled(t, buf); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}
