package checkpoint

import (
	"os"
	"path/filepath"
	"testing"
)

// memorizerModel is the embedded default model, stored in two shards.
const memorizerModel = "../../harness/embedded/memorizer/model"

// FuzzShardIndex: any model.safetensors.index.json beside real shards
// opens or fails with an error, never a panic; what opens reads.
func FuzzShardIndex(f *testing.F) {
	index, err := os.ReadFile(filepath.Join(memorizerModel, IndexFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(index)
	f.Add([]byte(`{"weight_map": {"gpt_neox.embed_in.weight": "model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"x": "../model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"x": ".."}}`))
	f.Add([]byte(`{"metadata": {"total_size": 1}, "weight_map": null}`))
	dir := f.TempDir()
	entries, err := os.ReadDir(memorizerModel)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == IndexFile || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(memorizerModel, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseIndex(data, "index"); err != nil {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, IndexFile), data, 0o644); err != nil {
			t.Skip("cannot write the fuzz index")
		}
		ck, err := Open(dir)
		if err != nil {
			return
		}
		defer ck.Close()
		for _, ti := range ck.Tensors() {
			if _, err := ck.Float32(ti.Name); err != nil {
				t.Fatalf("%s opened but does not read: %v", ti.Name, err)
			}
		}
	})
}
