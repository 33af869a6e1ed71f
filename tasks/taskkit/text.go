package taskkit

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The benchmarks' prompts are built with Python string methods; these
// helpers reproduce the ones the tasks use.

// PyIsSpace is Python's str.isspace for one character: Go's unicode.IsSpace
// plus the four ASCII separators U+001C..U+001F, which Python also counts.
func PyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// PyStrip is Python's str.strip() with no arguments.
func PyStrip(s string) string {
	return strings.TrimFunc(s, PyIsSpace)
}

// PyCapitalize is Python's str.capitalize(): the first character in title
// case, the rest in lower case. (Go's simple case mapping; Python's full
// mapping differs only for a few characters such as 'ß' and final sigma.)
func PyCapitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[size:])
}

// CharLen is Python's len() of a str: the number of Unicode code points.
// lm-eval's acc_norm divides by it.
func CharLen(s string) int {
	return utf8.RuneCountInString(s)
}

// PyWordCount is len(re.split(r"\s+", s)), lm-eval's word count for
// word_perplexity: the number of whitespace runs plus one (so leading or
// trailing whitespace adds an empty "word", as in lm-eval).
func PyWordCount(s string) int {
	n := 1
	inSpace := false
	for _, r := range s {
		sp := PyIsSpace(r)
		if sp && !inSpace {
			n++
		}
		inSpace = sp
	}
	return n
}
