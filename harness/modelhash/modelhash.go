// Package modelhash computes a content hash of a Hugging Face model folder:
// sha256 over config.json, the weight files and the tokenizer files, the
// files that decide what a model computes. The hash keys the response
// cache, so a changed checkpoint never serves stale answers while a
// renamed or copied one still hits.
//
// Hashing a multi-gigabyte checkpoint takes seconds, so each file's digest
// is memoized in a small JSON file by (path, size, modification time): a
// model is read once until its files change.
package modelhash

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/memscope/memscope/internal/atomicfile"
)

// Prefix starts every model hash.
const Prefix = "sha256:"

// tokenizerFiles are the tokenizer files a model folder may hold.
var tokenizerFiles = map[string]bool{
	"tokenizer.json":          true,
	"tokenizer_config.json":   true,
	"special_tokens_map.json": true,
	"vocab.json":              true,
	"merges.txt":              true,
	"added_tokens.json":       true,
	"tokenizer.model":         true,
}

// counts reports whether a file of a model folder enters its hash.
func counts(name string) bool {
	switch {
	case name == "config.json", tokenizerFiles[name]:
		return true
	case strings.HasSuffix(name, ".safetensors"), strings.HasSuffix(name, ".safetensors.index.json"):
		return true
	case strings.HasPrefix(name, "pytorch_model") && (strings.HasSuffix(name, ".bin") || strings.HasSuffix(name, ".bin.index.json")):
		return true
	}
	return false
}

// Files lists the files of dir that enter its hash, sorted by name.
func Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if counts(e.Name()) && (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if !contains(names, "config.json") {
		return nil, fmt.Errorf("model folder %s: no config.json", dir)
	}
	return names, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// memoEntry is what the memo file keeps per file.
type memoEntry struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	SHA256  string `json:"sha256"`
}

// Hasher hashes model folders, memoizing file digests in MemoFile.
type Hasher struct {
	// MemoFile is the JSON file that keeps file digests; "" keeps them in
	// memory only.
	MemoFile string
	// OnHash, if set, is called before a file is read and hashed (not for
	// memoized files), e.g. to tell the user why the start is slow.
	OnHash func(path string, size int64)

	mu     sync.Mutex
	memo   map[string]memoEntry
	loaded bool
	reads  int // files actually hashed (for tests)
}

// New returns a Hasher memoizing in memoFile.
func New(memoFile string) *Hasher { return &Hasher{MemoFile: memoFile} }

// Hash returns "sha256:<hex>" for the model folder dir.
func (h *Hasher) Hash(dir string) (string, error) {
	names, err := Files(dir)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.load()
	changed := false
	whole := sha256.New()
	io.WriteString(whole, "memscope-model-v1\n")
	for _, name := range names {
		digest, fresh, err := h.fileDigest(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		changed = changed || fresh
		fmt.Fprintf(whole, "%s\x00%s\n", name, digest)
	}
	if changed && h.MemoFile != "" {
		// A failed memo write only costs a re-hash next time.
		_ = h.save()
	}
	return Prefix + hex.EncodeToString(whole.Sum(nil)), nil
}

// fileDigest returns the file's sha256, from the memo when its size and
// modification time are unchanged; fresh says it was computed now.
func (h *Hasher) fileDigest(path string) (digest string, fresh bool, err error) {
	real, err := filepath.EvalSymlinks(path) // HF cache snapshots link to shared blobs
	if err != nil {
		return "", false, fmt.Errorf("hash %s: %w", path, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", false, fmt.Errorf("hash %s: %w", path, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", false, fmt.Errorf("hash %s: %w", path, err)
	}
	if e, ok := h.memo[real]; ok && e.Size == st.Size() && e.ModTime == st.ModTime().UnixNano() && len(e.SHA256) == 64 {
		return e.SHA256, false, nil
	}
	if h.OnHash != nil {
		h.OnHash(path, st.Size())
	}
	f, err := os.Open(real)
	if err != nil {
		return "", false, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", false, fmt.Errorf("hash %s: %w", path, err)
	}
	h.reads++
	digest = hex.EncodeToString(sum.Sum(nil))
	h.memo[real] = memoEntry{Size: st.Size(), ModTime: st.ModTime().UnixNano(), SHA256: digest}
	return digest, true, nil
}

// load reads the memo file once; a missing or unreadable memo is empty.
func (h *Hasher) load() {
	if h.loaded {
		return
	}
	h.loaded = true
	h.memo = map[string]memoEntry{}
	if h.MemoFile == "" {
		return
	}
	data, err := os.ReadFile(h.MemoFile)
	if err != nil {
		return
	}
	var m map[string]memoEntry
	if json.Unmarshal(data, &m) == nil {
		h.memo = m
	}
}

// save writes the memo atomically, merging entries another process may
// have added meanwhile.
func (h *Hasher) save() error {
	if data, err := os.ReadFile(h.MemoFile); err == nil {
		var disk map[string]memoEntry
		if json.Unmarshal(data, &disk) == nil {
			for k, v := range disk {
				if _, ok := h.memo[k]; !ok {
					h.memo[k] = v
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	data, err := json.MarshalIndent(h.memo, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(h.MemoFile), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(h.MemoFile, data, 0o644)
}
