// Package embedded carries the default model of `memscope run` inside the
// binary: a small Pythia-architecture model trained until it memorized
// planted sequences (memorizer/model), its canaries (memorizer/canaries.jsonl:
// 200 planted token sequences, each duplicated 1–32 times in training, and
// 200 control windows never trained on) and held-out sequences of the same
// distribution (memorizer/heldout.npy). ExtractMemorizer writes them once
// into the cache folder, where the plugins can read them like any model.
package embedded

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/memscope/memscope/internal/atomicfile"
)

//go:embed memorizer/model/config.json memorizer/model/tokenizer.json memorizer/model/tokenizer_config.json
//go:embed memorizer/model/model.safetensors.index.json memorizer/model/*.safetensors
//go:embed memorizer/canaries.jsonl memorizer/heldout.npy
var files embed.FS

// Memorizer is the extracted default model and its data.
type Memorizer struct {
	Dir      string // the extracted folder
	ModelDir string // Hugging Face model folder
	Canaries string // canaries.jsonl: {"tokens": [64 ids], "kind": "planted"|"control", "duplicates", "text"}
	Heldout  string // heldout.npy: int32 [n, 128] sequences never trained on
	Hash     string // sha256 of the embedded files (names and contents)
}

// Name is how results and messages call the embedded model.
const Name = "memorizer"

var (
	digestOnce sync.Once
	digests    map[string][32]byte // embedded path → sha256
	allDigest  string
)

func computeDigests() {
	digests = map[string][32]byte{}
	var names []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	all := sha256.New()
	for _, n := range names {
		data, _ := files.ReadFile(n)
		digests[n] = sha256.Sum256(data)
		fmt.Fprintf(all, "%s\x00%x\n", n, digests[n])
	}
	allDigest = hex.EncodeToString(all.Sum(nil))
}

// ExtractMemorizer makes sure the embedded model is in
// cacheDir/embedded/memorizer-<hash>, extracting it the first time and
// re-extracting any file whose content no longer matches its hash.
func ExtractMemorizer(cacheDir string) (Memorizer, error) {
	digestOnce.Do(computeDigests)
	dir := filepath.Join(cacheDir, "embedded", "memorizer-"+allDigest[:16])
	m := Memorizer{
		Dir:      dir,
		ModelDir: filepath.Join(dir, "model"),
		Canaries: filepath.Join(dir, "canaries.jsonl"),
		Heldout:  filepath.Join(dir, "heldout.npy"),
		Hash:     "sha256:" + allDigest,
	}
	names := make([]string, 0, len(digests))
	for n := range digests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rel, _ := filepath.Rel("memorizer", filepath.FromSlash(n))
		dst := filepath.Join(dir, rel)
		if ok, err := matches(dst, digests[n]); err != nil {
			return Memorizer{}, err
		} else if ok {
			continue
		}
		if err := extract(n, dst); err != nil {
			return Memorizer{}, fmt.Errorf("extract the embedded model to %s: %w (choose another --cache-dir)", dir, err)
		}
	}
	return m, nil
}

// matches reports whether dst exists with the given content hash.
func matches(dst string, want [32]byte) (bool, error) {
	data, err := os.ReadFile(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, nil // unreadable: extract again
	}
	got := sha256.Sum256(data)
	return bytes.Equal(got[:], want[:]), nil
}

// extract writes one embedded file to dst atomically, so a concurrent
// run never sees a half-written one.
func extract(name, dst string) error {
	data, err := files.ReadFile(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(dst, data, 0o644)
}
