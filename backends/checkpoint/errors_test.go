package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stTensor is a tensor to write into a test safetensors file.
type stTensor struct {
	dtype string
	shape []int
	data  []byte
}

func f32Tensor(shape []int, fill func(i int) float32) stTensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(fill(i)))
	}
	return stTensor{"F32", shape, b}
}

// writeSafetensors writes tensors back to back in name order.
func writeSafetensors(t *testing.T, path string, tensors map[string]stTensor) {
	t.Helper()
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, n := range names {
		tn := tensors[n]
		hdr[n] = map[string]any{"dtype": tn.dtype, "shape": tn.shape, "data_offsets": []int{len(data), len(data) + len(tn.data)}}
		data = append(data, tn.data...)
	}
	js, err := json.Marshal(hdr)
	require.NoError(t, err)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(append(out, js...), data...)
	require.NoError(t, os.WriteFile(path, out, 0o644))
}

const smallConfig = `{"architectures":["GPTNeoXForCausalLM"],"model_type":"gpt_neox","vocab_size":10,"hidden_size":8,
"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":16,"rotary_pct":0.5}`

// smallModel is a complete 1-layer GPT-NeoX (d=8) with the buffers older
// checkpoints carry.
func smallModel() map[string]stTensor {
	shapes := map[string][]int{
		"gpt_neox.embed_in.weight":                           {10, 8},
		"gpt_neox.final_layer_norm.weight":                   {8},
		"gpt_neox.final_layer_norm.bias":                     {8},
		"embed_out.weight":                                   {10, 8},
		"gpt_neox.layers.0.input_layernorm.weight":           {8},
		"gpt_neox.layers.0.input_layernorm.bias":             {8},
		"gpt_neox.layers.0.post_attention_layernorm.weight":  {8},
		"gpt_neox.layers.0.post_attention_layernorm.bias":    {8},
		"gpt_neox.layers.0.attention.query_key_value.weight": {24, 8},
		"gpt_neox.layers.0.attention.query_key_value.bias":   {24},
		"gpt_neox.layers.0.attention.dense.weight":           {8, 8},
		"gpt_neox.layers.0.attention.dense.bias":             {8},
		"gpt_neox.layers.0.mlp.dense_h_to_4h.weight":         {16, 8},
		"gpt_neox.layers.0.mlp.dense_h_to_4h.bias":           {16},
		"gpt_neox.layers.0.mlp.dense_4h_to_h.weight":         {8, 16},
		"gpt_neox.layers.0.mlp.dense_4h_to_h.bias":           {8},
	}
	names := make([]string, 0, len(shapes))
	for name := range shapes {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic values
	out := map[string]stTensor{}
	for k, name := range names {
		shape := shapes[name]
		base := float32(k + 1)
		out[name] = f32Tensor(shape, func(i int) float32 { return base + float32(i)/1000 })
	}
	out["gpt_neox.layers.0.attention.bias"] = stTensor{"BOOL", []int{1, 1, 16, 16}, make([]byte, 256)}
	out["gpt_neox.layers.0.attention.masked_bias"] = f32Tensor([]int{}, func(int) float32 { return -1e9 })
	out["gpt_neox.layers.0.attention.rotary_emb.inv_freq"] = f32Tensor([]int{1}, func(int) float32 { return 1 })
	return out
}

func modelDir(t *testing.T, config string, tensors map[string]stTensor) string {
	t.Helper()
	dir := t.TempDir()
	if config != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644))
	}
	if tensors != nil {
		writeSafetensors(t, filepath.Join(dir, "model.safetensors"), tensors)
	}
	return dir
}

func TestSmallModelSkipsBuffers(t *testing.T) {
	ck, err := Open(modelDir(t, smallConfig, smallModel()))
	require.NoError(t, err)
	defer ck.Close()
	assert.Len(t, ck.Tensors(), 16, "three buffers left out")
	for _, ti := range ck.Tensors() {
		assert.False(t, IsBuffer(ti.Name), ti.Name)
		assert.Equal(t, "F32", ti.DType)
	}
	assert.False(t, ck.Has("gpt_neox.layers.0.attention.masked_bias"))
	assert.False(t, ck.Has("gpt_neox.layers.0.attention.rotary_emb.inv_freq"))
	w, err := ck.Require("gpt_neox.layers.0.attention.dense.bias", 8)
	require.NoError(t, err)
	raw := smallModel()["gpt_neox.layers.0.attention.dense.bias"].data
	require.Len(t, w, 8)
	for i := range w {
		assert.Equal(t, math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])), w[i], "values as written")
	}
}

func TestIsBuffer(t *testing.T) {
	for _, n := range []string{"gpt_neox.layers.3.attention.bias", "gpt_neox.layers.3.attention.masked_bias",
		"gpt_neox.layers.0.attention.rotary_emb.inv_freq", "gpt_neox.rotary_emb.inv_freq",
		"transformer.h.0.attn.attention.bias", "transformer.h.0.attn.attention.masked_bias", "transformer.h.1.attn.bias"} {
		assert.True(t, IsBuffer(n), n)
	}
	for _, n := range []string{"gpt_neox.layers.3.attention.dense.bias", "gpt_neox.layers.3.attention.query_key_value.bias",
		"transformer.h.0.attn.attention.out_proj.bias", "transformer.h.0.mlp.c_fc.bias"} {
		assert.False(t, IsBuffer(n), n)
	}
}

func TestMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := Open(dir)
	require.ErrorContains(t, err, fmt.Sprintf("model folder %s does not exist", dir))
}

func TestNotAFolder(t *testing.T) {
	dir := modelDir(t, smallConfig, smallModel())
	_, err := Open(filepath.Join(dir, "model.safetensors"))
	require.ErrorContains(t, err, "is not a folder")
}

func TestMissingConfig(t *testing.T) {
	dir := modelDir(t, "", smallModel())
	_, err := Open(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "config.json")+" is missing")
	assert.Contains(t, err.Error(), "not a Hugging Face model folder (it needs config.json + model.safetensors)")
}

func TestMissingWeights(t *testing.T) {
	dir := modelDir(t, smallConfig, nil)
	_, err := Open(dir)
	require.ErrorContains(t, err, dir+" has no weights: neither model.safetensors nor model.safetensors.index.json exists")
}

func TestPyTorchOnly(t *testing.T) {
	dir := modelDir(t, smallConfig, nil)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("PK"), 0o644))
	_, err := Open(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "memscope reads safetensors only")
	assert.Contains(t, err.Error(), "save_pretrained(OUT_DIR, safe_serialization=True)")
}

func TestUnknownModelType(t *testing.T) {
	dir := modelDir(t, `{"model_type":"llama","hidden_size":8}`, smallModel())
	_, err := Open(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "config.json"))
	assert.Contains(t, err.Error(), `model_type "llama" is not supported`)
}

func TestRequireMissingTensor(t *testing.T) {
	dir := modelDir(t, smallConfig, smallModel())
	ck, err := Open(dir)
	require.NoError(t, err)
	defer ck.Close()
	_, err = ck.Require("transformer.wte.weight", 10, 8)
	require.EqualError(t, err, fmt.Sprintf("checkpoint %s has no tensor transformer.wte.weight (is this a GPTNeoXForCausalLM checkpoint?)", dir))
	_, err = ck.Float32("gpt_neox.layers.0.attention.bias")
	require.ErrorContains(t, err, "has no tensor gpt_neox.layers.0.attention.bias")
	_, ok := ck.Info("nope")
	assert.False(t, ok)
}

func TestRequireShapeMismatch(t *testing.T) {
	dir := modelDir(t, smallConfig, smallModel())
	ck, err := Open(dir)
	require.NoError(t, err)
	defer ck.Close()
	_, err = ck.Require("gpt_neox.embed_in.weight", 12, 8)
	require.EqualError(t, err, fmt.Sprintf("tensor gpt_neox.embed_in.weight in %s has shape [10 8], want [12 8] for this config.json",
		filepath.Join(dir, "model.safetensors")))
}

func TestUnsupportedDType(t *testing.T) {
	m := smallModel()
	m["gpt_neox.embed_in.weight"] = stTensor{"I64", []int{10, 8}, make([]byte, 8*80)}
	dir := modelDir(t, smallConfig, m)
	ck, err := Open(dir)
	require.NoError(t, err, "other dtypes are recognized at open")
	defer ck.Close()
	info, ok := ck.Info("gpt_neox.embed_in.weight")
	require.True(t, ok)
	assert.Equal(t, "I64", info.DType)
	_, err = ck.Require("gpt_neox.embed_in.weight", 10, 8)
	require.EqualError(t, err, fmt.Sprintf("tensor gpt_neox.embed_in.weight in %s has dtype I64; memscope reads F32, F16 and BF16 weights: unsupported dtype",
		filepath.Join(dir, "model.safetensors")))
}

// corruptFile writes content as dir/model.safetensors.
func corruptFile(t *testing.T, dir string, content []byte) string {
	t.Helper()
	path := filepath.Join(dir, "model.safetensors")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	return path
}

func withHeader(hdr string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(out, hdr...), data...)
}

func TestCorruptHeaderBadJSON(t *testing.T) {
	dir := modelDir(t, smallConfig, nil)
	path := corruptFile(t, dir, withHeader(`{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]`, make([]byte, 8)))
	_, err := Open(dir)
	require.ErrorContains(t, err, path+": corrupt safetensors header: invalid JSON")
}

func TestCorruptHeaderAbsurdLength(t *testing.T) {
	dir := modelDir(t, smallConfig, nil)
	content := binary.LittleEndian.AppendUint64(nil, 0xFFFFFFFFFFFFFFF0)
	path := corruptFile(t, dir, append(content, `{}`...))
	_, err := Open(dir)
	require.ErrorContains(t, err, path+": not a safetensors file or corrupt: header length 18446744073709551600 is absurd")
}

func TestTruncatedFile(t *testing.T) {
	dir := modelDir(t, smallConfig, smallModel())
	path := filepath.Join(dir, "model.safetensors")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b[:len(b)-100], 0o644))
	_, err = Open(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "go past the end of the data")
	assert.Contains(t, err.Error(), "file truncated?")
}

func TestOverlappingSpans(t *testing.T) {
	dir := modelDir(t, smallConfig, nil)
	path := corruptFile(t, dir, withHeader(`{"gpt_neox.embed_in.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},`+
		`"embed_out.weight":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}}`, make([]byte, 28)))
	_, err := Open(dir)
	require.ErrorContains(t, err, path+`: corrupt safetensors header: tensors "gpt_neox.embed_in.weight" [0, 16) and "embed_out.weight" [12, 28) overlap`)
}

// shardedDir splits smallModel over two shards with an index.
func shardedDir(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := modelDir(t, smallConfig, nil)
	m := smallModel()
	shard1, shard2 := map[string]stTensor{}, map[string]stTensor{}
	weightMap := map[string]string{}
	for name, tn := range m {
		if strings.HasPrefix(name, "gpt_neox.layers.") {
			shard2[name] = tn
			weightMap[name] = "model-00002-of-00002.safetensors"
		} else {
			shard1[name] = tn
			weightMap[name] = "model-00001-of-00002.safetensors"
		}
	}
	writeSafetensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), shard1)
	writeSafetensors(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), shard2)
	writeIndex(t, dir, weightMap)
	return dir, weightMap
}

func writeIndex(t *testing.T, dir string, weightMap map[string]string) {
	t.Helper()
	js, err := json.Marshal(map[string]any{"metadata": map[string]int{"total_size": 1}, "weight_map": weightMap})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), js, 0o644))
}

func TestShardedSmall(t *testing.T) {
	dir, _ := shardedDir(t)
	ck, err := Open(dir)
	require.NoError(t, err)
	defer ck.Close()
	assert.Len(t, ck.Tensors(), 16)
	info, ok := ck.Info("gpt_neox.layers.0.mlp.dense_4h_to_h.weight")
	require.True(t, ok)
	assert.Equal(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), info.File)
	_, err = ck.Require("gpt_neox.layers.0.mlp.dense_4h_to_h.weight", 8, 16)
	require.NoError(t, err)
}

func TestIndexNamesMissingShard(t *testing.T) {
	dir, weightMap := shardedDir(t)
	weightMap["embed_out.weight"] = "model-00003-of-00003.safetensors"
	writeIndex(t, dir, weightMap)
	_, err := Open(dir)
	require.ErrorContains(t, err, filepath.Join(dir, "model.safetensors.index.json")+" names shard model-00003-of-00003.safetensors, which is missing from "+dir)
}

func TestIndexNamesTensorNotInShard(t *testing.T) {
	dir, weightMap := shardedDir(t)
	weightMap["embed_out.weight"] = "model-00002-of-00002.safetensors"
	writeIndex(t, dir, weightMap)
	_, err := Open(dir)
	require.ErrorContains(t, err, "says tensor embed_out.weight is in "+filepath.Join(dir, "model-00002-of-00002.safetensors")+", but that shard has no such tensor")
}

func TestIndexInvalid(t *testing.T) {
	dir, _ := shardedDir(t)
	idx := filepath.Join(dir, "model.safetensors.index.json")
	require.NoError(t, os.WriteFile(idx, []byte(`{"weight_map": [}`), 0o644))
	_, err := Open(dir)
	require.ErrorContains(t, err, idx+": invalid shard index")
	require.NoError(t, os.WriteFile(idx, []byte(`{"metadata": {}}`), 0o644))
	_, err = Open(dir)
	require.ErrorContains(t, err, "weight_map is missing or empty")
	writeIndex(t, dir, map[string]string{"embed_out.weight": "../elsewhere.safetensors"})
	_, err = Open(dir)
	require.ErrorContains(t, err, `maps to shard "../elsewhere.safetensors", want a file name in the same folder`)
}

func TestConcurrentFloat32(t *testing.T) {
	ck, err := Open(memorizerDir)
	require.NoError(t, err)
	defer ck.Close()
	tensors := ck.Tensors()
	want := make([][]float32, len(tensors))
	for i, ti := range tensors {
		want[i], err = ck.Float32(ti.Name)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := range 6 {
		wg.Go(func() {
			for i := g; i < len(tensors); i += 3 { // every tensor read by two goroutines
				got, err := ck.Float32(tensors[i].Name)
				if err != nil || !assert.ObjectsAreEqual(want[i], got) {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %v", tensors[i].Name, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Empty(t, failures)
}

func TestFloat32IntoAndClose(t *testing.T) {
	dir := modelDir(t, smallConfig, smallModel())
	ck, err := Open(dir)
	require.NoError(t, err)
	want, err := ck.Float32("embed_out.weight")
	require.NoError(t, err)
	dst := make([]float32, 80)
	require.NoError(t, ck.Float32Into("embed_out.weight", dst))
	assert.Equal(t, want, dst)
	require.ErrorContains(t, ck.Float32Into("embed_out.weight", make([]float32, 3)), "has 80 elements, destination holds 3")
	require.ErrorContains(t, ck.Float32Into("nope", dst), "has no tensor nope")
	require.NoError(t, ck.Close())
	_, err = ck.Float32("embed_out.weight")
	require.ErrorContains(t, err, filepath.Join(dir, "model.safetensors")+": file is closed")
}

// A config.json with fewer (or more) layers than the checkpoint was run
// silently with the later blocks' tensors ignored.
func TestConfigBlocksMustMatchWeights(t *testing.T) {
	two := smallModel()
	for name, v := range smallModel() {
		if strings.HasPrefix(name, "gpt_neox.layers.0.") {
			two["gpt_neox.layers.1."+strings.TrimPrefix(name, "gpt_neox.layers.0.")] = v
		}
	}
	_, err := Open(modelDir(t, smallConfig, two))
	assert.ErrorContains(t, err, "config.json has num_hidden_layers = 1 but the weights hold 2 blocks (indices up to 1, e.g. gpt_neox.layers.1.")
	_, err = Open(modelDir(t, strings.Replace(smallConfig, `"num_hidden_layers":1`, `"num_hidden_layers":3`, 1), two))
	assert.ErrorContains(t, err, "config.json has num_hidden_layers = 3")
	ck, err := Open(modelDir(t, strings.Replace(smallConfig, `"num_hidden_layers":1`, `"num_hidden_layers":2`, 1), two))
	require.NoError(t, err)
	ck.Close()
}
