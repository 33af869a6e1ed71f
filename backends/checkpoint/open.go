package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/safetensors"
)

// File names of a Hugging Face model folder.
const (
	ConfigFile      = "config.json"
	SingleFile      = "model.safetensors"
	IndexFile       = "model.safetensors.index.json"
	pytorchFile     = "pytorch_model.bin"
	pytorchIndex    = "pytorch_model.bin.index.json"
	maxIndexFileLen = 64 << 20
)

// IsBuffer reports whether a stored name is a non-parameter buffer that
// some checkpoints carry (causal masks, rotary inverse frequencies) and
// that memscope recomputes instead of loading.
func IsBuffer(name string) bool {
	for _, suffix := range []string{
		".attention.bias", ".attention.masked_bias", // GPT-NeoX
		".attn.bias", ".attn.masked_bias", // GPT-Neo (older exports)
		".attn.attention.bias", ".attn.attention.masked_bias", // GPT-Neo
		".rotary_emb.inv_freq",
	} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// Open opens the model folder dir: its config.json, then model.safetensors
// or the shards named by model.safetensors.index.json.
func Open(dir string) (*Checkpoint, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("model folder %s does not exist", dir)
		}
		return nil, fmt.Errorf("open model folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder; give the Hugging Face model folder (config.json + model.safetensors)", dir)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	if !exists(cfgPath) {
		return nil, fmt.Errorf("%s is missing: %s is not a Hugging Face model folder (it needs config.json + model.safetensors)", cfgPath, dir)
	}
	cfg, err := arch.LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Dir: dir, Config: cfg, byName: map[string]entry{}}
	if err := ck.openWeights(); err != nil {
		ck.Close()
		return nil, err
	}
	return ck, nil
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

func (ck *Checkpoint) openWeights() error {
	single := filepath.Join(ck.Dir, SingleFile)
	index := filepath.Join(ck.Dir, IndexFile)
	switch {
	case exists(single):
		f, err := safetensors.Open(single)
		if err != nil {
			return err
		}
		ck.files = append(ck.files, f)
		for _, t := range f.Tensors() {
			ck.add(f, t)
		}
	case exists(index):
		if err := ck.openShards(index); err != nil {
			return err
		}
	case exists(filepath.Join(ck.Dir, pytorchFile)) || exists(filepath.Join(ck.Dir, pytorchIndex)):
		return fmt.Errorf("%s holds PyTorch pickle weights (%s) but memscope reads safetensors only; convert once with transformers: "+
			"AutoModelForCausalLM.from_pretrained(%q).save_pretrained(OUT_DIR, safe_serialization=True)", ck.Dir, pytorchFile, ck.Dir)
	default:
		return fmt.Errorf("%s has no weights: neither %s nor %s exists (a Hugging Face model folder needs config.json + model.safetensors)", ck.Dir, SingleFile, IndexFile)
	}
	sort.Slice(ck.tensors, func(i, j int) bool { return ck.tensors[i].Name < ck.tensors[j].Name })
	if len(ck.tensors) == 0 {
		return fmt.Errorf("%s: the safetensors weights hold no parameters", ck.Dir)
	}
	return ck.checkBlocks()
}

// blockIndex finds the block number in a tensor name: "….layers.N.…"
// (GPT-NeoX) or "….h.N.…" (GPT-Neo, GPT-2).
var blockIndex = regexp.MustCompile(`(?:^|\.)(?:layers|h)\.([0-9]+)\.`)

// checkBlocks compares the blocks the weights hold with config.json's
// num_hidden_layers: a config with fewer layers than the checkpoint ran
// silently with the later blocks' tensors ignored.
func (ck *Checkpoint) checkBlocks() error {
	blocks := map[int]bool{}
	last, example := -1, ""
	for _, t := range ck.tensors {
		m := blockIndex.FindStringSubmatch(t.Name)
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		blocks[n] = true
		if n > last {
			last, example = n, t.Name
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	if want := ck.Config.NumLayers; last+1 != want || len(blocks) != want {
		return fmt.Errorf("%s: config.json has num_hidden_layers = %d but the weights hold %d blocks (indices up to %d, e.g. %s): "+
			"the config does not belong to these weights", ck.Dir, want, len(blocks), last, example)
	}
	return nil
}

func (ck *Checkpoint) add(f *safetensors.File, t safetensors.Tensor) {
	if IsBuffer(t.Name) {
		return
	}
	info := TensorInfo{Name: t.Name, DType: string(t.DType), Shape: slices.Clone(t.Shape), File: f.Path}
	ck.byName[t.Name] = entry{info: info, file: f, tensor: t}
	ck.tensors = append(ck.tensors, info)
}

// openShards opens every shard named by the index and checks that each
// listed name is in the shard the index says.
func (ck *Checkpoint) openShards(index string) error {
	data, err := os.ReadFile(index)
	if err != nil {
		return fmt.Errorf("read shard index: %w", err)
	}
	byShard, err := parseIndex(data, index)
	if err != nil {
		return err
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	for _, shard := range shards {
		path := filepath.Join(ck.Dir, shard)
		if !exists(path) {
			return fmt.Errorf("%s names shard %s, which is missing from %s (incomplete download?)", index, shard, ck.Dir)
		}
		f, err := safetensors.Open(path)
		if err != nil {
			return err
		}
		ck.files = append(ck.files, f)
		names := byShard[shard]
		sort.Strings(names)
		for _, name := range names {
			t, ok := f.Lookup(name)
			if !ok {
				return fmt.Errorf("%s says tensor %s is in %s, but that shard has no such tensor", index, name, path)
			}
			ck.add(f, t)
		}
	}
	return nil
}

// parseIndex reads a model.safetensors.index.json: the tensor names of
// each shard file. index names the file in errors.
func parseIndex(data []byte, index string) (map[string][]string, error) {
	if len(data) > maxIndexFileLen {
		return nil, fmt.Errorf("%s: %d bytes is too large for a shard index", index, len(data))
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: invalid shard index: %v", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: invalid shard index: weight_map is missing or empty", index)
	}
	byShard := map[string][]string{}
	for name, shard := range idx.WeightMap {
		if shard == "" || filepath.IsAbs(shard) || filepath.Base(shard) != shard || shard == "." || shard == ".." {
			return nil, fmt.Errorf("%s: tensor %s maps to shard %q, want a file name in the same folder", index, name, shard)
		}
		byShard[shard] = append(byShard[shard], name)
	}
	return byShard, nil
}

// Close releases every shard.
func (ck *Checkpoint) Close() error {
	var errs []error
	for _, f := range ck.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
