package lm

import (
	"strings"
	"unicode"
)

// Tokenizer is what the LM layer needs from a tokenizer.
type Tokenizer interface {
	Encode(text string) []int32
}

// encodedPair is a loglikelihood request after tokenization.
type encodedPair struct {
	context      []int32
	continuation []int32
}

// encodePair tokenizes a (context, continuation) request the way
// lm-evaluation-harness's TemplateLM._encode_pair does for causal models:
// trailing whitespace of the context moves to the front of the
// continuation, the pair is encoded whole (so BPE merges across the
// boundary are respected), and the continuation's ids are the whole
// encoding minus the first len(encode(context)) ids. An empty context is
// conditioned on the end-of-text token instead.
func encodePair(tok Tokenizer, eot int32, context, continuation string) encodedPair {
	if context == "" {
		return encodedPair{context: []int32{eot}, continuation: tok.Encode(continuation)}
	}
	trimmed := trimRightPySpace(context)
	if n := len(context) - len(trimmed); n > 0 {
		continuation = context[len(trimmed):] + continuation
		context = trimmed
	}
	whole := tok.Encode(context + continuation)
	ctx := tok.Encode(context)
	if len(ctx) > len(whole) {
		// Cannot happen with a byte-level BPE (the context's encoding is
		// never longer than the pair's); keep the arithmetic safe anyway.
		ctx = ctx[:len(whole)]
	}
	return encodedPair{context: whole[:len(ctx)], continuation: whole[len(ctx):]}
}

// trimRightPySpace strips trailing characters for which Python's
// str.isspace() is true, as lm-eval's context.rstrip() does. Python's set
// is Go's unicode.IsSpace plus the ASCII separators U+001C..U+001F.
func trimRightPySpace(s string) string {
	return strings.TrimRightFunc(s, isPySpace)
}

func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}
