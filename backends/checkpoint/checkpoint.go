// Package checkpoint opens a Hugging Face model folder: config.json plus
// model.safetensors, or the shards listed in model.safetensors.index.json.
// Weights stored as F32, F16 or BF16 are handed out as float32.
package checkpoint

import "github.com/memscope/memscope/backends/modelconfig"

// Checkpoint is an opened model folder. Tensor names are the HF names with
// any leading "gpt_neox." / "transformer." kept as stored; non-parameter
// buffers (attention.bias, attention.masked_bias, rotary_emb.inv_freq) are
// left out.
type Checkpoint struct {
	Dir    string
	Config modelconfig.Config
	// unexported fields: the open shards and the tensor index
}

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	Name  string
	DType string // "F32", "F16", "BF16"
	Shape []int
	File  string // the shard holding it
}
