// Package tokenizer turns text into token ids exactly as Hugging Face
// tokenizers does for the byte-level BPE models memscope runs (GPT-2,
// GPT-Neo, GPT-NeoX / Pythia), and back.
//
// A Tokenizer is read from a model folder (Load) or a file (LoadFile): an HF
// tokenizer.json with a BPE model, or GPT-2's vocab.json + merges.txt pair.
// Encoding follows the HF pipeline step by step:
//
//  1. added tokens whose "normalized" flag is false are matched in the raw
//     text (leftmost-longest, with their lstrip / rstrip / single_word flags);
//  2. the remaining pieces are normalized (NFC, NFD, NFKC or NFKD when the
//     file declares it), then added tokens with "normalized": true are
//     matched in them;
//  3. each remaining piece goes through the ByteLevel pre-tokenizer: a
//     prefix space when add_prefix_space is set and the piece does not start
//     with one (per piece, as HF does), the GPT-2 split pattern unless
//     use_regex is false
//     ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+,
//     implemented by hand, see split.go), and the byte-to-character map;
//  4. each word is merged by BPE (lowest merge rank first, leftmost on ties).
//
// Encode adds no special tokens (HF add_special_tokens=False, as
// lm-evaluation-harness encodes for these models). The truncation and padding
// sections of tokenizer.json are ignored, as transformers ignores them when a
// text is tokenized without truncation=True; the post-processor is ignored
// because it only adds special tokens or adjusts offsets (trim_offsets
// likewise only moves offsets, which memscope does not report).
//
// Invalid UTF-8. Go strings may hold bytes that are not UTF-8, which HF never
// sees (Python strings are Unicode). Encode keeps every byte: an invalid byte
// is treated as one character of its own that is neither letter, number nor
// space (the class U+FFFD would have), normalization passes it through
// unchanged, and byte-level BPE encodes it like any other byte. So no byte is
// lost or altered: DecodeBytes(Encode(s)) == s for every s (NFC(s) with an
// NFC normalizer) — provided the vocabulary has the byte's character.
// GPT-2's has all 256; GPT-NeoX's lacks the 13 bytes that never occur in
// UTF-8 (C0, C1, F5–FF), and those are dropped, as HF drops any character
// missing from a vocabulary that has no unk token. Decode, like HF,
// returns valid UTF-8: it replaces each maximal invalid subsequence with
// U+FFFD exactly as Rust's String::from_utf8_lossy does (this is what HF
// returns for ids that split a UTF-8 character).
//
// A Tokenizer is safe for concurrent use. It caches the BPE result of words
// it has seen; the cache is bounded (see CacheSize) so that tokenizing a large
// corpus does not grow memory without limit.
package tokenizer

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Tokenizer is a loaded byte-level BPE tokenizer. Create it with Load or
// LoadFile.
type Tokenizer struct {
	source string // file(s) it was read from, for messages

	// BPE model.
	vocab        map[string]int32  // model vocabulary, byte-level strings
	merges       map[uint64]uint64 // pairKey(a, b) → rank<<32 | merged id
	byteID       [256]int32        // id of the byte-level character of each byte, -1 if absent
	unkID        int32             // -1 when there is no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	// Pipeline around the model.
	normalize        func(string) string // nil: no normalizer
	rawAdded         *addedMatcher       // added tokens with normalized=false
	normAdded        *addedMatcher       // added tokens with normalized=true
	addPrefixSpace   bool
	useRegex         bool
	byteLevelDecoder bool

	// Id tables.
	tokens         []string // id → token string ("" where no token has the id)
	hasToken       []bool
	decoded        []string // id → bytes the ByteLevel decoder makes of it
	special        []bool   // id → special added token
	addedByContent map[string]int32
	added          []AddedToken

	cache *wordCache
}

// Option changes how Load and LoadFile build a Tokenizer.
type Option func(*options)

type options struct {
	cacheSize int
}

// DefaultCacheSize is the default number of slots of the BPE word cache:
// one word each, about 12 MB when all are filled.
const DefaultCacheSize = 1 << 17

// CacheSize sets the number of slots of the BPE word cache (rounded up to a
// power of two); 0 disables the cache. Words longer than 64 bytes are never
// cached.
func CacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// Source names the file(s) the tokenizer was loaded from.
func (t *Tokenizer) Source() string { return t.source }

// VocabSize is one more than the largest token id (model vocabulary and
// added tokens). A model's embedding matrix may have more rows (padding).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a token given in its vocabulary form (byte-level
// characters, e.g. "Ġthe"), or of an added token by its content
// ("<|endoftext|>"). Added tokens take precedence, as in HF.
func (t *Tokenizer) TokenID(token string) (int32, bool) {
	if id, ok := t.addedByContent[token]; ok {
		return id, true
	}
	id, ok := t.vocab[token]
	return id, ok
}

// Token returns the vocabulary form of an id (byte-level characters for
// model tokens, the content for added tokens).
func (t *Tokenizer) Token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(t.tokens) || !t.hasToken[id] {
		return "", false
	}
	return t.tokens[id], true
}

// AddedTokens returns the added tokens (special or not), in file order,
// with the ids the tokenizer uses for them.
func (t *Tokenizer) AddedTokens() []AddedToken { return slices.Clone(t.added) }

// IsSpecial reports whether id is a special added token (e.g. <|endoftext|>).
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.special) && t.special[id]
}

// EOTTokenID returns the id of "<|endoftext|>", the end-of-text token the
// GPT-2 family uses as document separator and as the context of an empty
// prompt (lm-evaluation-harness's prefix token).
func (t *Tokenizer) EOTTokenID() (int32, bool) { return t.TokenID("<|endoftext|>") }

// Encode returns the token ids of text, without special tokens added.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.AppendEncode(make([]int32, 0, len(text)/3+1), text)
}

// AppendEncode appends the token ids of text to dst and returns the
// extended slice.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	if t.rawAdded == nil {
		return t.encodeRawPiece(dst, text)
	}
	return t.rawAdded.split(text, dst, t.encodeRawPiece)
}

// encodeRawPiece encodes a piece of raw text that holds no raw added token.
func (t *Tokenizer) encodeRawPiece(dst []int32, piece string) []int32 {
	if t.normalize != nil {
		piece = t.normalize(piece)
	}
	if t.normAdded == nil {
		return t.encodePiece(dst, piece)
	}
	return t.normAdded.split(piece, dst, t.encodePiece)
}

// encodePiece runs the ByteLevel pre-tokenizer and BPE on a normalized piece
// that holds no added token.
func (t *Tokenizer) encodePiece(dst []int32, piece string) []int32 {
	if piece == "" {
		return dst
	}
	if t.addPrefixSpace && piece[0] != ' ' {
		piece = " " + piece
	}
	if !t.useRegex {
		return t.appendWord(dst, piece)
	}
	for i := 0; i < len(piece); {
		j := nextWord(piece, i)
		dst = t.appendWord(dst, piece[i:j])
		i = j
	}
	return dst
}

// EncodeBatch encodes texts in parallel over all cores. The result has one
// slice per text, in order.
func (t *Tokenizer) EncodeBatch(texts []string) [][]int32 {
	out := make([][]int32, len(texts))
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		for i, s := range texts {
			out[i] = t.Encode(s)
		}
		return out
	}
	// Texts are handed out in small chunks so that a few long texts do not
	// leave the other workers idle.
	const chunk = 16
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(texts) {
					return
				}
				for i := lo; i < min(lo+chunk, len(texts)); i++ {
					out[i] = t.Encode(texts[i])
				}
			}
		}()
	}
	wg.Wait()
	return out
}
