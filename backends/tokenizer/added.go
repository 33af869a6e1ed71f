package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's "added_tokens": a string
// matched in the text before pre-tokenization and mapped to one id.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"` // match only when not inside a word
	LStrip     bool   `json:"lstrip"`      // also swallow whitespace on the left
	RStrip     bool   `json:"rstrip"`      // also swallow whitespace on the right
	Normalized bool   `json:"normalized"`  // matched in the normalized text
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens in a text the way HF's AddedVocabulary
// does: an Aho-Corasick search with leftmost-longest, non-overlapping
// matches (here a byte trie walked from each candidate position), then the
// single_word, lstrip and rstrip rules of find_matches.
type addedMatcher struct {
	first  [256]bool // bytes that start some token
	only   int       // the one byte every token starts with, or -1
	nodes  []trieNode
	tokens []AddedToken
}

type trieNode struct {
	edges []trieEdge
	token int32 // index into tokens, -1 if no token ends here
}

type trieEdge struct {
	b    byte
	next int32
}

// newAddedMatcher builds a matcher over tokens, each matched by pattern[i]
// (its content, normalized for normalized tokens). It returns nil when
// there is nothing to match.
func newAddedMatcher(tokens []AddedToken, patterns []string) *addedMatcher {
	m := &addedMatcher{nodes: []trieNode{{token: -1}}}
	for i, p := range patterns {
		if p == "" {
			continue // HF ignores empty added tokens
		}
		n := int32(0)
		for k := 0; k < len(p); k++ {
			next := int32(-1)
			for _, e := range m.nodes[n].edges {
				if e.b == p[k] {
					next = e.next
					break
				}
			}
			if next < 0 {
				next = int32(len(m.nodes))
				m.nodes = append(m.nodes, trieNode{token: -1})
				m.nodes[n].edges = append(m.nodes[n].edges, trieEdge{p[k], next})
			}
			n = next
		}
		if m.nodes[n].token < 0 { // the first of duplicate patterns wins
			m.nodes[n].token = int32(len(m.tokens))
		}
		m.tokens = append(m.tokens, tokens[i])
		m.first[p[0]] = true
	}
	if len(m.tokens) == 0 {
		return nil
	}
	m.only = -1
	for b, ok := range m.first {
		if ok {
			if m.only != -1 {
				m.only = -1
				break
			}
			m.only = b
		}
	}
	return m
}

// find returns the leftmost-longest match at or after from: its bounds and
// token index, or ok=false.
func (m *addedMatcher) find(s string, from int) (start, end int, tok int32, ok bool) {
	for i := from; i < len(s); i++ {
		if m.only >= 0 {
			// Common case (<|…|> tokens, GPT-NeoX's space runs): jump to
			// the next candidate with a vectorized search.
			k := strings.IndexByte(s[i:], byte(m.only))
			if k < 0 {
				break
			}
			i += k
		} else if !m.first[s[i]] {
			continue
		}
		n, best := int32(0), int32(-1)
		for j := i; j < len(s); j++ {
			next := int32(-1)
			for _, e := range m.nodes[n].edges {
				if e.b == s[j] {
					next = e.next
					break
				}
			}
			if next < 0 {
				break
			}
			n = next
			if t := m.nodes[n].token; t >= 0 {
				best, end = t, j+1
			}
		}
		if best >= 0 {
			return i, end, best, true
		}
	}
	return 0, 0, -1, false
}

// split cuts s at added-token matches: it appends the id of each match to
// dst and passes every non-empty stretch between matches to encode.
func (m *addedMatcher) split(s string, dst []int32, encode func([]int32, string) []int32) []int32 {
	startOffset := 0
	for from := 0; from < len(s); {
		start, stop, ti, ok := m.find(s, from)
		if !ok {
			break
		}
		from = stop // the search resumes after the raw match, as Aho-Corasick's find_iter does
		tok := &m.tokens[ti]
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWordChar(s[:start])
			stopSpace := stop == len(s) || !startsWithWordChar(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			newStart := start
			for newStart > 0 {
				r, n := utf8.DecodeLastRuneInString(s[:newStart])
				if !isWhitespace(r, n) {
					break
				}
				newStart -= n
			}
			start = max(newStart, startOffset)
		}
		if tok.RStrip {
			for stop < len(s) {
				r, n := utf8.DecodeRuneInString(s[stop:])
				if !isWhitespace(r, n) {
					break
				}
				stop += n
			}
		}
		if startOffset < start {
			dst = encode(dst, s[startOffset:start])
		}
		dst = append(dst, tok.ID)
		startOffset = stop
	}
	if startOffset < len(s) {
		dst = encode(dst, s[startOffset:])
	}
	return dst
}

// isWhitespace is Rust's char::is_whitespace (the White_Space property);
// an invalid byte is not whitespace.
func isWhitespace(r rune, n int) bool {
	return !(r == utf8.RuneError && n <= 1) && unicode.IsSpace(r)
}

// isWordChar is Rust's char::is_alphanumeric: Alphabetic or Numeric.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Other_Alphabetic, r)
}

func endsWithWordChar(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return !(r == utf8.RuneError && n <= 1) && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return !(r == utf8.RuneError && n <= 1) && isWordChar(r)
}
