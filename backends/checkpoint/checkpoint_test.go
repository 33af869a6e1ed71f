package checkpoint

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/modelconfig"
)

const tinyDir = "../testdata/tiny"

var tinyModels = []string{"gptneox-tiny", "gptneox-tiny-seqres", "gptneox-tiny-bf16", "gptneo-tiny", "gptneo-tiny-fp16"}

// expectedShapes lists every parameter an HF model of cfg stores.
func expectedShapes(cfg modelconfig.Config) map[string][]int {
	d, v, ff, L := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize, cfg.NumLayers
	out := map[string][]int{}
	switch cfg.ModelType {
	case modelconfig.GPTNeoX:
		out["gpt_neox.embed_in.weight"] = []int{v, d}
		out["gpt_neox.final_layer_norm.weight"] = []int{d}
		out["gpt_neox.final_layer_norm.bias"] = []int{d}
		out["embed_out.weight"] = []int{v, d}
		for l := range L {
			p := fmt.Sprintf("gpt_neox.layers.%d.", l)
			for _, ln := range []string{"input_layernorm", "post_attention_layernorm"} {
				out[p+ln+".weight"] = []int{d}
				out[p+ln+".bias"] = []int{d}
			}
			out[p+"attention.query_key_value.weight"] = []int{3 * d, d}
			out[p+"attention.query_key_value.bias"] = []int{3 * d}
			out[p+"attention.dense.weight"] = []int{d, d}
			out[p+"attention.dense.bias"] = []int{d}
			out[p+"mlp.dense_h_to_4h.weight"] = []int{ff, d}
			out[p+"mlp.dense_h_to_4h.bias"] = []int{ff}
			out[p+"mlp.dense_4h_to_h.weight"] = []int{d, ff}
			out[p+"mlp.dense_4h_to_h.bias"] = []int{d}
		}
	case modelconfig.GPTNeo:
		out["transformer.wte.weight"] = []int{v, d}
		out["transformer.wpe.weight"] = []int{cfg.MaxPositions, d}
		out["transformer.ln_f.weight"] = []int{d}
		out["transformer.ln_f.bias"] = []int{d}
		for l := range L {
			p := fmt.Sprintf("transformer.h.%d.", l)
			for _, ln := range []string{"ln_1", "ln_2"} {
				out[p+ln+".weight"] = []int{d}
				out[p+ln+".bias"] = []int{d}
			}
			for _, proj := range []string{"q_proj", "k_proj", "v_proj"} {
				out[p+"attn.attention."+proj+".weight"] = []int{d, d}
			}
			out[p+"attn.attention.out_proj.weight"] = []int{d, d}
			out[p+"attn.attention.out_proj.bias"] = []int{d}
			out[p+"mlp.c_fc.weight"] = []int{ff, d}
			out[p+"mlp.c_fc.bias"] = []int{ff}
			out[p+"mlp.c_proj.weight"] = []int{d, ff}
			out[p+"mlp.c_proj.bias"] = []int{d}
		}
	}
	return out
}

func TestOpenTinyModels(t *testing.T) {
	for _, name := range tinyModels {
		t.Run(name, func(t *testing.T) {
			ck, err := Open(filepath.Join(tinyDir, name))
			require.NoError(t, err)
			defer ck.Close()
			want := expectedShapes(ck.Config)
			got := map[string][]int{}
			for _, ti := range ck.Tensors() {
				got[ti.Name] = ti.Shape
			}
			assert.Equal(t, want, got)
			for n, shape := range want {
				w, err := ck.Require(n, shape...)
				require.NoError(t, err, n)
				numel := 1
				for _, s := range shape {
					numel *= s
				}
				require.Len(t, w, numel)
			}
		})
	}
}

const memorizerDir = "../../harness/embedded/memorizer/model"

func TestOpenShardedMemorizer(t *testing.T) {
	ck, err := Open(memorizerDir)
	require.NoError(t, err)
	defer ck.Close()
	assert.Equal(t, 6, ck.Config.NumLayers)
	want := expectedShapes(ck.Config)
	require.Len(t, want, 4+6*12)
	got := map[string][]int{}
	shards := map[string]bool{}
	for _, ti := range ck.Tensors() {
		got[ti.Name] = ti.Shape
		shards[filepath.Base(ti.File)] = true
		assert.Equal(t, "F16", ti.DType, ti.Name)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, map[string]bool{"model-00001-of-00002.safetensors": true, "model-00002-of-00002.safetensors": true}, shards)
	for name, shape := range want {
		w, err := ck.Require(name, shape...)
		require.NoError(t, err, name)
		for i, v := range w {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s[%d] = %v", name, i, v)
			}
		}
	}
	// A trained model's layer norm gains are not all equal.
	g, err := ck.Float32("gpt_neox.layers.5.input_layernorm.weight")
	require.NoError(t, err)
	assert.NotEqual(t, g[0], g[1])
}

// The bf16 and fp16 fixtures hold the fp32 fixtures' weights rounded: the
// loaded values agree within half an ulp of the narrow format (bf16: 8
// significant bits, fp16: 11; fp16 subnormals below 2^-14 absolute).
func TestNarrowFixturesMatchFP32(t *testing.T) {
	for _, c := range []struct {
		f32, narrow string
		relTol      float64
	}{
		{"gptneox-tiny", "gptneox-tiny-bf16", math.Ldexp(1, -8)},
		{"gptneo-tiny", "gptneo-tiny-fp16", math.Ldexp(1, -11)},
	} {
		t.Run(c.narrow, func(t *testing.T) {
			a, err := Open(filepath.Join(tinyDir, c.f32))
			require.NoError(t, err)
			defer a.Close()
			b, err := Open(filepath.Join(tinyDir, c.narrow))
			require.NoError(t, err)
			defer b.Close()
			assert.Equal(t, a.Config.HiddenSize, b.Config.HiddenSize)
			for _, ti := range a.Tensors() {
				x, err := a.Float32(ti.Name)
				require.NoError(t, err)
				y, err := b.Require(ti.Name, ti.Shape...)
				require.NoError(t, err)
				exact := 0
				for i := range x {
					d := math.Abs(float64(x[i]) - float64(y[i]))
					tol := math.Max(c.relTol*math.Abs(float64(x[i])), math.Ldexp(1, -25))
					if d > tol {
						t.Fatalf("%s[%d]: %v vs %v", ti.Name, i, x[i], y[i])
					}
					if d == 0 {
						exact++
					}
				}
				// The narrow copy is really narrower (not the same fp32 data).
				if len(x) > 16 {
					assert.Less(t, exact, len(x), ti.Name)
				}
			}
		})
	}
}
