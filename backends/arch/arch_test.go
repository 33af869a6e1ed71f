package arch_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/modelconfig"
)

var fixtures = []string{
	"../testdata/tiny/gptneox-tiny", "../testdata/tiny/gptneox-tiny-seqres", "../testdata/tiny/gptneox-tiny-bf16",
	"../testdata/tiny/gptneo-tiny", "../testdata/tiny/gptneo-tiny-fp16", "../../harness/embedded/memorizer/model",
}

// TestTensorMapCoversCheckpoints: each architecture's tensor map reads
// every parameter a real HF checkpoint stores, exactly once, with the
// stored shape (QKV assembled from q, k, v for GPT-Neo), and Parameters
// is what the checkpoint stores.
func TestTensorMapCoversCheckpoints(t *testing.T) {
	for _, dir := range fixtures {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ck, err := checkpoint.Open(dir)
			require.NoError(t, err)
			defer ck.Close()
			a, err := arch.For(ck.Config)
			require.NoError(t, err)
			stored := map[string][]int{}
			var storedN int64
			for _, ti := range ck.Tensors() {
				stored[ti.Name] = ti.Shape
				n := int64(1)
				for _, d := range ti.Shape {
					n *= int64(d)
				}
				storedN += n
			}
			used := map[string]bool{}
			for _, tn := range a.Tensors(ck.Config) {
				for _, src := range tn.Sources {
					shape, ok := stored[src]
					require.True(t, ok, "%s reads %s, which the checkpoint does not store", tn, src)
					assert.False(t, used[src], "%s read twice", src)
					used[src] = true
					switch tn.Layout {
					case arch.AsStored:
						assert.Equal(t, shape, tn.Shape, src)
					case arch.QKVPerHead:
						D := ck.Config.HiddenSize
						assert.Equal(t, []int{D, D}, shape, src)
						assert.Equal(t, []int{3 * D, D}, tn.Shape)
					}
				}
			}
			for name := range stored {
				assert.True(t, used[name], "stored tensor %s is not read", name)
			}
			n, err := arch.Parameters(ck.Config)
			require.NoError(t, err)
			assert.Equal(t, storedN, n)
		})
	}
}

func TestSettings(t *testing.T) {
	neox, err := arch.LoadConfig("../testdata/tiny/gptneox-tiny/config.json")
	require.NoError(t, err)
	a, _ := arch.Lookup(modelconfig.GPTNeoX)
	s := a.Settings(neox)
	assert.Equal(t, float32(0.25), s.AttnScale, "head_dim 16: 16^-0.5")
	assert.Equal(t, 4, s.RotaryDims)
	assert.Equal(t, 10000.0, s.RotaryBase)
	assert.Equal(t, []int{0, 0, 0, 0}, s.Window)
	assert.True(t, s.ParallelResidual)
	assert.False(t, s.LearnedPositions)
	assert.False(t, s.TiedUnembed)
	assert.Equal(t, modelconfig.ActGELU, s.Activation)

	seq, err := arch.LoadConfig("../testdata/tiny/gptneox-tiny-seqres/config.json")
	require.NoError(t, err)
	assert.False(t, a.Settings(seq).ParallelResidual)

	neo, err := arch.LoadConfig("../testdata/tiny/gptneo-tiny/config.json")
	require.NoError(t, err)
	b, _ := arch.Lookup(modelconfig.GPTNeo)
	s = b.Settings(neo)
	assert.Equal(t, float32(1), s.AttnScale, "GPT-Neo does not scale attention scores")
	assert.Zero(t, s.RotaryDims)
	assert.Equal(t, []int{0, 8, 0, 8}, s.Window, "global, local(8), global, local(8)")
	assert.False(t, s.ParallelResidual)
	assert.True(t, s.LearnedPositions)
	assert.True(t, s.TiedUnembed)
	assert.Equal(t, modelconfig.ActGELUNew, s.Activation)
}

func TestRegistry(t *testing.T) {
	assert.Equal(t, []string{"GPTNeoForCausalLM", "GPTNeoXForCausalLM"}, arch.Architectures())
	var types []string
	for _, a := range arch.All() {
		types = append(types, a.ModelType)
	}
	assert.True(t, slices.IsSorted(types))
	_, err := arch.For(modelconfig.Config{ModelType: "llama"})
	assert.EqualError(t, err, `model_type "llama" is not supported; memscope supports "gpt_neo" (GPT-Neo) and "gpt_neox" (GPT-NeoX, Pythia)`)
	assert.Panics(t, func() { arch.Register(&arch.Arch{ModelType: modelconfig.GPTNeo}) })
}

// TestRotaryTables: HF's float32 inv_freq and angles; position 0 is the
// identity rotation.
func TestRotaryTables(t *testing.T) {
	cos, sin := arch.RotaryTables(4, 10000, 3)
	require.Len(t, cos, 6)
	assert.Equal(t, []float32{1, 1}, cos[:2])
	assert.Equal(t, []float32{0, 0}, sin[:2])
	// inv_freq = [1, 1/100]: position 2 turns by 2 and 0.02 radians.
	assert.InDelta(t, -0.4161468, cos[4], 1e-6)
	assert.InDelta(t, 0.9092974, sin[4], 1e-6)
	assert.InDelta(t, 0.9998000, cos[5], 1e-6)
	c, s := arch.RotaryTables(0, 10000, 3)
	assert.Nil(t, c)
	assert.Nil(t, s)
}
