// Package checkpoint opens a Hugging Face model folder: config.json plus
// model.safetensors, or the shards listed in model.safetensors.index.json.
// Weights stored as F32, F16 or BF16 are handed out as float32.
package checkpoint

import (
	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/backends/safetensors"
)

// Checkpoint is an opened model folder. Tensor names are the HF names with
// any leading "gpt_neox." / "transformer." kept as stored; non-parameter
// buffers (attention.bias, attention.masked_bias, rotary_emb.inv_freq) are
// left out. Its methods are safe for concurrent use.
type Checkpoint struct {
	Dir    string
	Config modelconfig.Config

	files   []*safetensors.File // the open shards
	tensors []TensorInfo        // sorted by name
	byName  map[string]entry
}

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	Name  string
	DType string // "F32", "F16", "BF16"
	Shape []int
	File  string // the shard holding it
}

type entry struct {
	info   TensorInfo
	file   *safetensors.File
	tensor safetensors.Tensor
}
