package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
)

func TestUTF8Lossy(t *testing.T) {
	// Expected values are what Rust's String::from_utf8_lossy returns
	// (one U+FFFD per maximal subpart, Unicode 3.9 / table 3-8).
	const R = "\ufffd"
	for in, want := range map[string]string{
		"plain":                "plain",
		"caf\xc3":              "caf" + R,
		"\xe6\x97":             R,         // a 3-byte character cut after 2 bytes
		"\xe6\x97a":            R + "a",   //   … followed by ASCII
		"\xf0\x9f\x98":         R,         // a 4-byte emoji cut after 3
		"\xf0\x9f\x98\xf0\x9f": R + R,     // two cut emoji
		"\xff\xfe":             R + R,     // bytes that never start a character
		"\x80\x80":             R + R,     // lone continuation bytes
		"\xed\xa0\x80":         R + R + R, // a UTF-16 surrogate: ED takes only 80..9F
		"\xe0\x80\x80":         R + R + R, // overlong: E0 takes only A0..BF
		"\xf4\x90\x80\x80":     R + R + R + R,
		"\xc0\xaf":             R + R,
		"a\xe2\x82\xacb":       "a€b",
	} {
		assert.Equal(t, want, utf8Lossy([]byte(in)), "%q", in)
	}
}

// TestDecodeSplitCharacter: ids that cut a character decode to U+FFFD, as
// HF's ByteLevel decoder does, and the raw bytes stay available.
func TestDecodeSplitCharacter(t *testing.T) {
	tok := testTokenizer(t, "gpt2")
	ids := tok.Encode("日本")
	require.Greater(t, len(ids), 2)
	for k := 1; k < len(ids); k++ {
		dec := tok.Decode(ids[:k])
		assert.True(t, utf8.ValidString(dec))
		assert.Equal(t, utf8Lossy(tok.DecodeBytes(ids[:k])), dec)
	}
	assert.Equal(t, "日本", tok.Decode(ids))
	assert.Equal(t, "\ufffd", tok.Decode(tok.Encode("\xe6\x97")))
}

// TestInvalidUTF8 pins down what happens to bytes HF never sees: each is
// kept, through normalization and pre-tokenization, and encoded by its
// byte-level character.
func TestInvalidUTF8(t *testing.T) {
	inputs := []string{"a\xffb", "caf\xc3 \xff\xfe!", "\xe6\x97", "e\u0301\xff\u0301", "<|endoftext|>\xff", "\xff  \xfe", "x\xc3"}
	for _, name := range []string{"gpt2", "neox", "memorizer"} {
		tok := testTokenizer(t, name)
		for _, s := range inputs {
			ids := tok.Encode(s)
			want := s
			if name != "gpt2" { // NFC leaves invalid bytes alone but composes e+U+0301
				want = norm.NFC.String(s)
			}
			want = withoutMissingBytes(tok, want)
			assert.Equal(t, want, string(tok.DecodeBytes(ids)), "%s %q", name, s)
			assert.Equal(t, utf8Lossy([]byte(want)), tok.Decode(ids), "%s %q", name, s)
		}
	}
	// An invalid byte is a pre-token boundary like U+FFFD: "a\xffb" is
	// encoded as "a", "\xff", "b".
	tok := testTokenizer(t, "gpt2")
	var want []int32
	for _, w := range []string{"a", "\xff", "b"} {
		want = append(want, tok.Encode(w)...)
	}
	assert.Equal(t, want, tok.Encode("a\xffb"))
}

// withoutMissingBytes removes the bytes whose byte-level character the
// vocabulary lacks: HF drops such characters (there is no unk token).
func withoutMissingBytes(tok *Tokenizer, s string) string {
	return string(slices.DeleteFunc([]byte(s), func(b byte) bool { return tok.byteID[b] < 0 }))
}

// TestMissingBytes: GPT-NeoX's vocabulary has no character for the 13 bytes
// that never occur in UTF-8 (C0, C1, F5–FF), so invalid input holding them
// loses them, exactly as HF drops characters missing from a vocabulary.
// GPT-2's and the memorizer's vocabularies have all 256.
func TestMissingBytes(t *testing.T) {
	var missing []byte
	neox := testTokenizer(t, "neox")
	for b := range 256 {
		if neox.byteID[b] < 0 {
			missing = append(missing, byte(b))
		}
	}
	assert.Equal(t, []byte{0xc0, 0xc1, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff}, missing)
	assert.Equal(t, "ab", string(neox.DecodeBytes(neox.Encode("a\xffb"))))
	for _, name := range []string{"gpt2", "memorizer"} {
		tok := testTokenizer(t, name)
		for b := range 256 {
			assert.GreaterOrEqual(t, tok.byteID[b], int32(0), "%s byte %#x", name, b)
		}
	}
}

// FuzzRoundTrip: Decode(Encode(s)) == s for valid UTF-8 (NFC(s) with the
// NFC normalizer), and DecodeBytes(Encode(s)) == s for any bytes.
func FuzzRoundTrip(f *testing.F) {
	for _, r := range loadTokref(f, "gpt2")[:40] {
		f.Add(r.Text)
	}
	f.Add("a\xff<|endoftext|>  \xe6\x97 e\u0301")
	gpt2 := testTokenizer(f, "gpt2")
	neox := testTokenizer(f, "neox")
	f.Fuzz(func(t *testing.T, s string) {
		ids := gpt2.Encode(s)
		require.Equal(t, s, string(gpt2.DecodeBytes(ids)))
		if utf8.ValidString(s) {
			require.Equal(t, s, gpt2.Decode(ids))
			require.Equal(t, norm.NFC.String(s), neox.Decode(neox.Encode(s)))
		}
	})
}

func TestRoundTripRandom(t *testing.T) {
	gpt2, neox := testTokenizer(t, "gpt2"), testTokenizer(t, "neox")
	rng := newRand(7)
	alphabet := []string{" ", "  ", "\n", "'s", "e", "\u0301", "é", "日", "😀", "1", ".", "<|endoftext|>", "<|padding|>", "\xff", "\xe6", "\t"}
	for range 3000 {
		var sb strings.Builder
		for range rng.intn(30) {
			sb.WriteString(alphabet[rng.intn(len(alphabet))])
		}
		s := sb.String()
		require.Equal(t, s, string(gpt2.DecodeBytes(gpt2.Encode(s))), "%q", s)
		require.Equal(t, withoutMissingBytes(neox, norm.NFC.String(s)), string(neox.DecodeBytes(neox.Encode(s))), "%q", s)
	}
}

// TestMergeHeapMatchesScan: the heap used for long words merges exactly as
// the rescan used for short ones (HF's order: lowest rank, then leftmost).
func TestMergeHeapMatchesScan(t *testing.T) {
	tok := testTokenizer(t, "neox")
	rng := newRand(3)
	pieces := []string{"a", "b", "th", "e", " ", "in", "g", "ab", "ing", "x", "1", "0"}
	for range 500 {
		var sb strings.Builder
		for range 1 + rng.intn(200) {
			sb.WriteString(pieces[rng.intn(len(pieces))])
		}
		syms := tok.appendSymbols(nil, sb.String())
		a, b := slices.Clone(syms), slices.Clone(syms)
		na, nb := mergeScan(tok, a), mergeHeap(tok, b)
		require.Equal(t, a[:na], b[:nb], "%q", sb.String())
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok, err := Load(memorizerDir, CacheSize(64)) // tiny cache: constant eviction
	require.NoError(t, err)
	rows := loadTokref(t, "memorizer")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(rows); i += 3 {
				if got := tok.Encode(rows[i].Text); !slices.Equal(got, rows[i].IDs) {
					t.Errorf("row %d differs under concurrency", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, tok.cache.slots, 64, "the cache never grows")
}

func TestEncodeBatchEdgeCases(t *testing.T) {
	tok := testTokenizer(t, "gpt2")
	assert.Empty(t, tok.EncodeBatch(nil))
	out := tok.EncodeBatch([]string{"", "Hello world"})
	assert.Equal(t, [][]int32{{}, {15496, 995}}, out)
	assert.Equal(t, []int32{1, 2, 15496, 995}, tok.AppendEncode([]int32{1, 2}, "Hello world"))
}

// writeTokenizerJSON writes a tokenizer.json over a small byte-level
// vocabulary (byte b has id b; merges a+b→256, ab+c→257, Ġ+a→258,
// b+1→259), after letting edit change the decoded JSON.
func writeTokenizerJSON(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	vocab := map[string]any{}
	for b := range 256 {
		vocab[string(byteChar[b])] = b
	}
	next := 256
	var merges []any
	for _, m := range [][2]string{{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}, {"b", "1"}} {
		vocab[m[0]+m[1]] = next
		next++
		merges = append(merges, m[0]+" "+m[1])
	}
	doc := map[string]any{
		"version":      "1.0",
		"added_tokens": []any{},
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{
			"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true,
		},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false},
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "vocab": vocab, "merges": merges,
		},
	}
	if edit != nil {
		edit(doc)
	}
	data, err := json.Marshal(doc)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

func model(m map[string]any) map[string]any { return m["model"].(map[string]any) }

func loadSmall(t *testing.T, edit func(m map[string]any)) *Tokenizer {
	t.Helper()
	tok, err := LoadFile(writeTokenizerJSON(t, edit))
	require.NoError(t, err)
	return tok
}

func TestSmallTokenizer(t *testing.T) {
	tok := loadSmall(t, nil)
	assert.Empty(t, tok.Encode(""))
	assert.Equal(t, []int32{257}, tok.Encode("abc"), "a+b (rank 0), then ab+c (rank 1)")
	assert.Equal(t, []int32{' ', 256}, tok.Encode(" ab"), "a+b outranks Ġ+a")
	assert.Equal(t, []int32{258, 'x'}, tok.Encode(" ax"))
	assert.Equal(t, []int32{'b', '1'}, tok.Encode("b1"), "the regex splits letters from digits")
	assert.Equal(t, " abc b1", tok.Decode(tok.Encode(" abc b1")))
	assert.Equal(t, 260, tok.VocabSize())
	_, ok := tok.EOTTokenID()
	assert.False(t, ok)
}

func TestMergesAsPairs(t *testing.T) {
	tok := loadSmall(t, func(m map[string]any) {
		model(m)["merges"] = [][]string{{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}, {"b", "1"}}
	})
	assert.Equal(t, []int32{257}, tok.Encode("abc"))
	assert.Equal(t, []int32{' ', 256}, tok.Encode(" ab"))
}

func TestPreTokenizerOptions(t *testing.T) {
	plain := loadSmall(t, nil)
	prefix := loadSmall(t, func(m map[string]any) {
		m["pre_tokenizer"].(map[string]any)["add_prefix_space"] = true
	})
	assert.Equal(t, []int32{' ', 257}, prefix.Encode("abc"), "add_prefix_space prepends a space")
	assert.Equal(t, plain.Encode(" abc"), prefix.Encode(" abc"), "… unless the piece starts with one")

	noRegex := loadSmall(t, func(m map[string]any) {
		m["pre_tokenizer"].(map[string]any)["use_regex"] = false
	})
	assert.Equal(t, []int32{259}, noRegex.Encode("b1"), "without the regex the text is one word")
	assert.Equal(t, []int32{256, ' ', 256}, noRegex.Encode("ab ab"))

	seq := loadSmall(t, func(m map[string]any) {
		m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{m["pre_tokenizer"]}}
		m["decoder"] = nil
	})
	assert.Equal(t, []int32{'b', '1'}, seq.Encode("b1"))
	assert.Equal(t, "Ġ ab", seq.Decode([]int32{' ', 256}), "without a decoder HF joins the tokens with spaces")
}

func TestIgnoreMerges(t *testing.T) {
	edit := func(ignore bool) func(m map[string]any) {
		return func(m map[string]any) {
			model(m)["vocab"].(map[string]any)["bc"] = 300 // no merge makes it
			model(m)["ignore_merges"] = ignore
		}
	}
	assert.Equal(t, []int32{'b', 'c'}, loadSmall(t, edit(false)).Encode("bc"))
	assert.Equal(t, []int32{300}, loadSmall(t, edit(true)).Encode("bc"), "a word in the vocab is taken whole")
	assert.Equal(t, []int32{257}, loadSmall(t, edit(true)).Encode("abc"))
}

func TestUnknownBytes(t *testing.T) {
	drop := func(m map[string]any) {
		v := model(m)["vocab"].(map[string]any)
		delete(v, "x")
		delete(v, "y")
	}
	// No unk token: HF drops characters missing from the vocab.
	assert.Equal(t, []int32{257}, loadSmall(t, drop).Encode("xyabcx"))
	withUnk := func(fuse bool) func(m map[string]any) {
		return func(m map[string]any) {
			drop(m)
			model(m)["vocab"].(map[string]any)["<unk>"] = 300
			model(m)["unk_token"] = "<unk>"
			model(m)["fuse_unk"] = fuse
		}
	}
	assert.Equal(t, []int32{300, 300, 257, 300}, loadSmall(t, withUnk(false)).Encode("xyabcx"))
	assert.Equal(t, []int32{300, 257, 300}, loadSmall(t, withUnk(true)).Encode("xyabcx"))
	fallback := func(m map[string]any) {
		drop(m)
		v := model(m)["vocab"].(map[string]any)
		v["<0x78>"] = 301
		model(m)["byte_fallback"] = true
	}
	assert.Equal(t, []int32{301, 257}, loadSmall(t, fallback).Encode("xyabc"), "x falls back to <0x78>; y has no fallback token and no unk")
}

// TestAddedTokenFlags follows HF's AddedVocabulary::find_matches.
func TestAddedTokenFlags(t *testing.T) {
	tok := loadSmall(t, func(m map[string]any) {
		m["normalizer"] = map[string]any{"type": "NFC"}
		m["added_tokens"] = []any{
			map[string]any{"id": 400, "content": "<m>", "lstrip": true, "special": true},
			map[string]any{"id": 401, "content": "yes", "single_word": true},
			map[string]any{"id": 402, "content": "</r>", "rstrip": true},
			map[string]any{"id": 403, "content": "\u1ebf", "normalized": true}, // matched after NFC
			map[string]any{"id": 405, "content": "é"},                          // in the vocab already
			map[string]any{"id": 404, "content": "<mm>", "special": true},
		}
	})
	const sp = ' '
	assert.Equal(t, []int32{'a', 400, 'b'}, tok.Encode("a <m>b"), "lstrip swallows the space before")
	assert.Equal(t, []int32{400, sp, 'b'}, tok.Encode("<m> b"), "… but not after")
	assert.Equal(t, []int32{401, sp, 'e', 'y', 'e', 's', sp, 401, '!'}, tok.Encode("yes eyes yes!"),
		"single_word skips a match inside a word")
	assert.Equal(t, []int32{402, 'x'}, tok.Encode("</r>  x"), "rstrip swallows the spaces after")
	assert.Equal(t, []int32{'x', 403, 'y'}, tok.Encode("xe\u0302\u0301y"), "a normalized token matches the NFC form")
	id, ok := tok.TokenID("é")
	assert.True(t, ok)
	assert.Equal(t, int32(0xE9), id, "an added token already in the vocab keeps the vocab's id, as in HF")
	assert.Equal(t, []int32{404, 400}, tok.Encode("<mm><m>"), "leftmost-longest")
	assert.Equal(t, "a<m>b", tok.Decode([]int32{'a', 400, 'b'}))
	assert.True(t, tok.IsSpecial(400))
	assert.False(t, tok.IsSpecial(401))
	id, ok = tok.TokenID("yes")
	assert.True(t, ok)
	assert.Equal(t, int32(401), id)
}
