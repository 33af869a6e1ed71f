package tokenizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadPicksTokenizerJSONFirst(t *testing.T) {
	// A folder with both forms reads tokenizer.json.
	dir := t.TempDir()
	for _, f := range []string{"gpt2/tokenizer.json", "gpt2pair/vocab.json", "gpt2pair/merges.txt"} {
		data, err := os.ReadFile(filepath.Join(unpacked, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644))
	}
	tok, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "tokenizer.json"), tok.Source())

	// LoadFile on vocab.json finds merges.txt beside it.
	tok, err = LoadFile(filepath.Join(dir, "vocab.json"))
	require.NoError(t, err)
	assert.Contains(t, tok.Source(), "merges.txt")
	assert.Equal(t, []int32{15496, 995}, tok.Encode("Hello world"))
}

func TestLoadErrors(t *testing.T) {
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		}
		return dir
	}
	// A tokenizer.json with a complete ByteLevel setup around the given model.
	withModel := func(model string) string {
		return `{"added_tokens": [], "normalizer": null,
			"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
			"decoder": {"type": "ByteLevel"}, "model": ` + model + `}`
	}
	cases := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"empty folder", map[string]string{}, []string{"no tokenizer in", "tokenizer.json", "vocab.json with merges.txt"}},
		{"vocab without merges", map[string]string{"vocab.json": `{"a": 0}`}, []string{"no tokenizer in"}},
		{"not JSON", map[string]string{"tokenizer.json": `{"model": `}, []string{"tokenizer.json", "not valid JSON"}},
		{"WordPiece", map[string]string{"tokenizer.json": withModel(`{"type": "WordPiece", "vocab": {"a": 0}}`)},
			[]string{"tokenizer.json", `model type "WordPiece" is not supported`, "byte-level BPE"}},
		{"Unigram", map[string]string{"tokenizer.json": withModel(`{"type": "Unigram", "vocab": [["a", 0.0]]}`)},
			[]string{`model type "Unigram" is not supported`}},
		{"WordLevel", map[string]string{"tokenizer.json": withModel(`{"type": "WordLevel", "vocab": {"a": 0}}`)},
			[]string{`model type "WordLevel" is not supported`}},
		{"no model", map[string]string{"tokenizer.json": `{"model": null}`}, []string{`no "model" section`}},
		{"model not an object", map[string]string{"tokenizer.json": withModel(`[1]`)}, []string{`malformed "model"`}},
		{"empty vocab", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {}, "merges": []}`)},
			[]string{"empty or missing \"vocab\""}},
		{"no merges", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {"a": 0}}`)},
			[]string{`no "merges"`}},
		{"bad merge string", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}`)},
			[]string{`merge 0 "a"`, "two tokens"}},
		{"bad merge pair", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a", "a"]]}`)},
			[]string{"merge 0", "pair"}},
		{"merge of unknown tokens", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}`)},
			[]string{`merge 0 ("a" "b")`, "missing from the vocab"}},
		{"merge result not in vocab", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}`)},
			[]string{`makes "ab"`}},
		{"duplicate ids", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}`)},
			[]string{`id 0 to both "a" and "b"`}},
		{"dropout", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}`)},
			[]string{"dropout 0.1 is not supported"}},
		{"subword prefix", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "continuing_subword_prefix": "##", "vocab": {"a": 0}, "merges": []}`)},
			[]string{`continuing_subword_prefix "##"`}},
		{"word suffix", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "end_of_word_suffix": "</w>", "vocab": {"a": 0}, "merges": []}`)},
			[]string{`end_of_word_suffix "</w>"`}},
		{"unk not in vocab", map[string]string{"tokenizer.json": withModel(`{"type": "BPE", "unk_token": "<unk>", "vocab": {"a": 0}, "merges": []}`)},
			[]string{`unk_token "<unk>" is not in the vocab`}},
		{"other normalizer", map[string]string{"tokenizer.json": `{"normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`},
			[]string{`normalizer type "Lowercase" is not supported`}},
		{"other pre-tokenizer", map[string]string{"tokenizer.json": `{"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`},
			[]string{`pre_tokenizer type "Metaspace" is not supported`}},
		{"no pre-tokenizer", map[string]string{"tokenizer.json": `{"pre_tokenizer": null, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`},
			[]string{"no pre_tokenizer"}},
		{"other decoder", map[string]string{"tokenizer.json": `{"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "WordPiece"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`},
			[]string{`decoder type "WordPiece" is not supported`}},
		{"vocab.json not an object", map[string]string{"vocab.json": `["a"]`, "merges.txt": "#version: 0.2\n"},
			[]string{"vocab.json", "merges.txt", "not a JSON object of token ids"}},
		{"merges.txt bad line", map[string]string{"vocab.json": `{"a": 0, "b": 1, "ab": 2}`, "merges.txt": "#version: 0.2\na b\nab\n"},
			[]string{"merges.txt line 3", "two tokens"}},
		{"merges.txt unknown token", map[string]string{"vocab.json": `{"a": 0}`, "merges.txt": "a c\n"},
			[]string{"merges.txt", `merge 0 ("a" "c")`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, c.files)
			_, err := Load(dir)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			if len(c.files) > 0 && c.name != "vocab without merges" {
				assert.Contains(t, err.Error(), dir, "the error names the file")
			}
		})
	}
}

func TestLoadPathErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "missing")

	file := filepath.Join(t.TempDir(), "tokenizer.json")
	require.NoError(t, os.WriteFile(file, []byte(`{}`), 0o644))
	_, err = Load(file)
	assert.ErrorContains(t, err, "is not a folder")

	_, err = LoadFile(file)
	assert.ErrorContains(t, err, `neither a tokenizer.json (it has no "model" section) nor a vocab.json with merges.txt`)

	_, err = LoadFile(filepath.Join(t.TempDir(), "nope.json"))
	assert.ErrorContains(t, err, "nope.json")
}
