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
// continuation; the context's ids are encode(context) and the
// continuation's ids are encode(context+continuation) minus its first
// len(encode(context)) ids. Where BPE merges across the boundary the
// model is fed encode(context) followed by that remainder, exactly as
// lm-eval feeds it (not the whole pair's encoding).
//
// An empty context is conditioned on the end-of-text token (lm-eval's
// loglikelihood). A context of whitespace only is empty once its
// whitespace has moved; lm-eval's _loglikelihood_tokens then fails its
// len(context_enc) > 0 assertion, and we condition it on end-of-text too.
func encodePair(tok Tokenizer, eot int32, context, continuation string) encodedPair {
	trimmed := trimRightPySpace(context)
	continuation = context[len(trimmed):] + continuation
	context = trimmed
	var ctx []int32
	if context != "" {
		ctx = tok.Encode(context)
	}
	if len(ctx) == 0 {
		return encodedPair{context: []int32{eot}, continuation: tok.Encode(continuation)}
	}
	whole := tok.Encode(context + continuation)
	// min: the context's encoding is never longer than the pair's with a
	// byte-level BPE; keep the slice safe for any tokenizer anyway.
	return encodedPair{context: ctx, continuation: whole[min(len(ctx), len(whole)):]}
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
