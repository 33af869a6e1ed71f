package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteChar is GPT-2's byte-to-character map: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 onwards in byte order
// (so ' ' is 'Ġ' and '\n' is 'Ċ').
var byteChar, charByte = func() (bc [256]rune, cb map[rune]byte) {
	cb = make(map[rune]byte, 256)
	n := rune(0)
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			bc[b] = rune(b)
		} else {
			bc[b] = 256 + n
			n++
		}
		cb[bc[b]] = byte(b)
	}
	return bc, cb
}()

// byteLevelString maps raw bytes to their byte-level characters.
func byteLevelString(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteChar[s[i]])
	}
	return b.String()
}

// byteLevelDecode is what HF's ByteLevel decoder makes of one token: the
// bytes of its characters, or, when a character is outside the byte-level
// alphabet (e.g. the spaces of GPT-NeoX's whitespace tokens), the token's
// own UTF-8.
func byteLevelDecode(token string) string {
	out := make([]byte, 0, len(token))
	for _, r := range token {
		b, ok := charByte[r]
		if !ok {
			return token
		}
		out = append(out, b)
	}
	return string(out)
}

// Decode turns ids back into text as HF's decode(ids,
// skip_special_tokens=False) does: special tokens are kept, ids that name no
// token are skipped, and byte sequences that are not valid UTF-8 (e.g. ids
// that split a character) become U+FFFD as with Rust's from_utf8_lossy.
// A tokenizer.json without a decoder joins the tokens with spaces, as HF.
func (t *Tokenizer) Decode(ids []int32) string {
	if !t.byteLevelDecoder {
		parts := make([]string, 0, len(ids))
		for _, id := range ids {
			if tok, ok := t.Token(id); ok {
				parts = append(parts, tok)
			}
		}
		return strings.Join(parts, " ")
	}
	return utf8Lossy(t.DecodeBytes(ids))
}

// DecodeBytes returns the raw bytes the ids stand for, without replacing
// invalid UTF-8: DecodeBytes(Encode(s)) == s for any s (with a ByteLevel
// decoder and no normalization that changes s).
func (t *Tokenizer) DecodeBytes(ids []int32) []byte {
	n := 0
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.decoded) {
			n += len(t.decoded[id])
		}
	}
	out := make([]byte, 0, n)
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.decoded) {
			out = append(out, t.decoded[id]...)
		}
	}
	return out
}

// utf8Lossy converts b to a string, replacing each maximal subpart of an
// ill-formed sequence with one U+FFFD (the Unicode-recommended practice that
// Rust's String::from_utf8_lossy follows; Go's own conversions replace per
// byte instead).
func utf8Lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
			i++
			continue
		}
		if r, n := utf8.DecodeRune(b[i:]); r != utf8.RuneError || n > 1 {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		// Invalid: skip the longest prefix that could start a valid
		// sequence (lead byte plus fitting continuation bytes), at least 1.
		i += maximalSubpart(b[i:])
		sb.WriteRune(utf8.RuneError)
	}
	return sb.String()
}

// maximalSubpart returns the length of the maximal subpart of the ill-formed
// sequence at the start of b (Unicode 3.9, table 3-7).
func maximalSubpart(b []byte) int {
	var need int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	k := 1
	for ; k <= need && k < len(b); k++ {
		if b[k] < lo || b[k] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return k
}
