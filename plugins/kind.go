package plugins

import "fmt"

// RequestKind says which backend call a Request asks for (and which result
// a Response carries): lm-eval's Instance.request_type. Its values are the
// request_type column of the requests table.
type RequestKind string

// The request kinds. KindNone and KindSeveral are what Kind reports for a
// malformed request or response (no field set, more than one set); they
// are never sent.
const (
	KindLoglikelihood        RequestKind = "loglikelihood"
	KindLoglikelihoodRolling RequestKind = "loglikelihood_rolling"
	KindGenerateTokens       RequestKind = "generate_tokens"

	KindNone    RequestKind = ""
	KindSeveral RequestKind = "several"
)

// RequestKinds lists the valid kinds in the order a backend is called.
var RequestKinds = []RequestKind{KindLoglikelihood, KindLoglikelihoodRolling, KindGenerateTokens}

// Valid says whether k is one of RequestKinds.
func (k RequestKind) Valid() bool {
	return k == KindLoglikelihood || k == KindLoglikelihoodRolling || k == KindGenerateTokens
}

func (k RequestKind) String() string {
	if k == KindNone {
		return "none"
	}
	return string(k)
}

func kindOf(ll, rolling, generate bool) RequestKind {
	n, k := 0, KindNone
	if ll {
		n, k = n+1, KindLoglikelihood
	}
	if rolling {
		n, k = n+1, KindLoglikelihoodRolling
	}
	if generate {
		n, k = n+1, KindGenerateTokens
	}
	if n > 1 {
		return KindSeveral
	}
	return k
}

// Kind says which of Loglikelihood, Rolling and Generate is set: KindNone
// when none is, KindSeveral when more than one is.
func (r Request) Kind() RequestKind {
	return kindOf(r.Loglikelihood != nil, r.Rolling != nil, r.Generate != nil)
}

// Kind says which result is set, like Request.Kind.
func (r Response) Kind() RequestKind {
	return kindOf(r.Loglikelihood != nil, r.Rolling != nil, r.Generate != nil)
}

// CheckKind reports a request that does not set exactly one request.
func (r Request) CheckKind() error {
	if k := r.Kind(); !k.Valid() {
		return fmt.Errorf("a request must set exactly one of Loglikelihood, Rolling, Generate (it sets %s)", setCount(k))
	}
	return nil
}

// CheckKind reports a response that does not set exactly one result.
func (r Response) CheckKind() error {
	if k := r.Kind(); !k.Valid() {
		return fmt.Errorf("a response must set exactly one of Loglikelihood, Rolling, Generate (it sets %s)", setCount(k))
	}
	return nil
}

func setCount(k RequestKind) string {
	if k == KindNone {
		return "none"
	}
	return "several"
}
