package checkpoint

import (
	"fmt"
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
