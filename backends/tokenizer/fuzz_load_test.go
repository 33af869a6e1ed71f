package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// shrunkVocab keeps the tokens with id < keep and the merges among them:
// a small but real byte-level BPE, for fuzz seeds.
func shrunkVocab(vocab map[string]int32, merges [][2]string, keep int32) (map[string]int32, [][2]string) {
	small := map[string]int32{}
	for tok, id := range vocab {
		if id < keep {
			small[tok] = id
		}
	}
	var ms [][2]string
	for _, m := range merges {
		_, a := small[m[0]]
		_, b := small[m[1]]
		_, ab := small[m[0]+m[1]]
		if a && b && ab {
			ms = append(ms, m)
		}
	}
	return small, ms
}

// seedTokenizerJSON shrinks a real tokenizer.json's vocabulary and merges.
func seedTokenizerJSON(t testing.TB, path string, keep int32) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	model := top["model"].(map[string]any)
	vocab := map[string]int32{}
	for tok, id := range model["vocab"].(map[string]any) {
		vocab[tok] = int32(id.(float64))
	}
	var merges [][2]string
	for _, m := range model["merges"].([]any) {
		switch m := m.(type) {
		case string:
			a, b, _ := strings.Cut(m, " ")
			merges = append(merges, [2]string{a, b})
		case []any:
			merges = append(merges, [2]string{m[0].(string), m[1].(string)})
		}
	}
	small, ms := shrunkVocab(vocab, merges, keep)
	model["vocab"] = small
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m[0] + " " + m[1]
	}
	model["merges"] = out
	var added []any
	for _, a := range top["added_tokens"].([]any) {
		if id := a.(map[string]any)["id"].(float64); int32(id) < keep {
			added = append(added, a)
		}
	}
	top["added_tokens"] = added
	b, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTokenizer uses a tokenizer that loaded: encoding and decoding never
// panic and every id is in the vocabulary.
func checkTokenizer(t *testing.T, tok *Tokenizer) {
	for _, s := range []string{"", "hello world", " a\n\tb  c", "\xff\xfe日本 <|endoftext|>", "e\u0301"} {
		ids := tok.Encode(s)
		for _, id := range ids {
			if _, ok := tok.Token(id); !ok {
				t.Fatalf("Encode(%q) gave id %d, not in the vocabulary", s, id)
			}
		}
		_ = tok.Decode(ids)
		_ = tok.DecodeBytes(ids)
	}
	_ = tok.Decode([]int32{-1, 0, 1 << 30})
}

// FuzzTokenizerJSON: any tokenizer.json content loads or fails with an
// error, never a panic; a loaded one encodes and decodes.
func FuzzTokenizerJSON(f *testing.F) {
	f.Add(seedTokenizerJSON(f, filepath.Join(unpacked, "neox", "tokenizer.json"), 400))
	f.Add(seedTokenizerJSON(f, filepath.Join(unpacked, "gpt2", "tokenizer.json"), 300))
	f.Add(seedTokenizerJSON(f, filepath.Join(memorizerDir, "tokenizer.json"), 600))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`))
	f.Add([]byte(`{"model": {"type": "WordPiece"}}`))
	f.Add([]byte(`{"model": 3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := fromTokenizerJSON(data, newOptions(nil))
		if err != nil {
			return
		}
		checkTokenizer(t, tok)
	})
}

// FuzzVocabMerges: GPT-2's vocab.json + merges.txt pair, any content.
func FuzzVocabMerges(f *testing.F) {
	tok, err := loadPair(filepath.Join(unpacked, "gpt2pair", "vocab.json"), filepath.Join(unpacked, "gpt2pair", "merges.txt"), nil)
	if err != nil {
		f.Fatal(err)
	}
	vocab := map[string]int32{}
	for id, s := range tok.tokens {
		vocab[s] = int32(id)
	}
	mergesData, err := os.ReadFile(filepath.Join(unpacked, "gpt2pair", "merges.txt"))
	if err != nil {
		f.Fatal(err)
	}
	var merges [][2]string
	for _, line := range strings.Split(string(mergesData), "\n")[1:] {
		if a, b, ok := strings.Cut(line, " "); ok {
			merges = append(merges, [2]string{a, b})
		}
	}
	small, ms := shrunkVocab(vocab, merges, 400)
	vj, _ := json.Marshal(small)
	lines := []string{"#version: 0.2"}
	for _, m := range ms {
		lines = append(lines, m[0]+" "+m[1])
	}
	sort.Strings(lines[1:])
	f.Add(vj, []byte(strings.Join(lines, "\n")+"\n"))
	f.Add([]byte(`{"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}`), []byte("#version: 0.2\na b\n"))
	f.Add([]byte(`{"a": -1}`), []byte("a a a\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, vocabJSON, mergesTxt []byte) {
		vp, mp := filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")
		if os.WriteFile(vp, vocabJSON, 0o644) != nil || os.WriteFile(mp, mergesTxt, 0o644) != nil {
			t.Skip("cannot write the fuzz files")
		}
		tok, err := loadPair(vp, mp, nil)
		if err != nil {
			return
		}
		checkTokenizer(t, tok)
	})
}
