package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The ByteLevel pre-tokenizer splits with GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Go's regexp lacks the lookahead, and a backtracking engine is slow, so
// nextWord implements the pattern by hand. It is checked against the regexp2
// engine on every fixture text and by a fuzz test (split_test.go).
//
// Character classes follow Oniguruma (the engine HF uses): \s is U+0009–U+000D,
// U+0085 and the Z categories, which is exactly unicode.IsSpace; \p{L} is
// unicode.IsLetter and \p{N} unicode.IsNumber. A byte that is not part of
// valid UTF-8 is one character of class "other".

const (
	classOther uint8 = iota
	classLetter
	classNumber
	classSpace
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range utf8.RuneSelf {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			t[c] = classLetter
		case c >= '0' && c <= '9':
			t[c] = classNumber
		case c == ' ', c >= '\t' && c <= '\r':
			t[c] = classSpace
		default:
			t[c] = classOther
		}
	}
	return t
}()

// classAt returns the class of the character starting at s[i] and its
// length in bytes.
func classAt(s string, i int) (uint8, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && n == 1:
		return classOther, 1
	case unicode.IsLetter(r):
		return classLetter, n
	case unicode.IsNumber(r):
		return classNumber, n
	case unicode.IsSpace(r):
		return classSpace, n
	}
	return classOther, n
}

// nextWord returns the end of the pre-token that starts at s[i] (i < len(s)).
func nextWord(s string, i int) int {
	c := s[i]
	if c == '\'' && i+1 < len(s) {
		// 's|'t|'re|'ve|'m|'ll|'d, case-sensitive.
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v':
			if i+2 < len(s) && s[i+2] == 'e' {
				return i + 3
			}
		case 'l':
			if i+2 < len(s) && s[i+2] == 'l' {
				return i + 3
			}
		}
	}
	if c == ' ' && i+1 < len(s) {
		// " ?" followed by a letter, number or other run.
		if cls, n := classAt(s, i+1); cls != classSpace {
			return runEnd(s, i+1+n, cls)
		}
	}
	cls, n := classAt(s, i)
	if cls != classSpace {
		return runEnd(s, i+n, cls)
	}
	// Whitespace run. \s+(?!\S) takes all of it at the end of the text and
	// all but its last character before a non-space; a single whitespace
	// character before a non-space falls to \s+.
	last, j := i, i+n
	for j < len(s) {
		cls, n := classAt(s, j)
		if cls != classSpace {
			break
		}
		last, j = j, j+n
	}
	if j == len(s) || last == i {
		return j
	}
	return last
}

// runEnd extends a run of class cls that continues at s[j].
func runEnd(s string, j int, cls uint8) int {
	for j < len(s) {
		if c := s[j]; c < utf8.RuneSelf {
			if asciiClass[c] != cls {
				return j
			}
			j++
			continue
		}
		c, n := classAt(s, j)
		if c != cls {
			return j
		}
		j += n
	}
	return j
}
