package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/memscope/memscope/plugins"
)

// Scope is everything besides the request itself that decides a response:
// which model (by content), which backend build, which compute dtype and
// which intervention. lm-eval's CachingLM keys on the request alone, so its
// users must wipe the cache whenever the model changes; here the key says
// what computed the answer.
type Scope struct {
	ModelHash      string // modelhash.Hasher.Hash of the model folder
	Backend        string // backend name, "cpu"
	BackendVersion string // the backend's Capabilities.Version: a new build may compute differently
	DType          string // compute dtype in use (ModelInfo.DType)
	Intervention   string // canonical spec (Intervention.String()), "none" for the baseline
}

// Key identifies one response: sha256 of a canonical binary encoding of
// the scope and the request.
type Key [32]byte

func (k Key) String() string { return fmt.Sprintf("%x", k[:]) }

// keyVersion changes whenever the encoding below changes.
const keyVersion = "memscope-response-key-v1"

// Request kinds, as stored in keys and values.
const (
	kindLoglikelihood byte = 1
	kindRolling       byte = 2
	kindGenerate      byte = 3
)

// Key returns the cache key of a request under the scope. The request's
// DocIndex and Index do not enter it: the same text scored for two tasks
// is one entry.
func (s Scope) Key(r plugins.Request) (Key, error) {
	b := make([]byte, 0, 256)
	b = appendString(b, keyVersion)
	b = appendString(b, s.ModelHash)
	b = appendString(b, s.Backend)
	b = appendString(b, s.BackendVersion)
	b = appendString(b, s.DType)
	b = appendString(b, s.Intervention)
	if err := r.CheckKind(); err != nil {
		return Key{}, err
	}
	kind := storedKind(r.Kind())
	b = append(b, kind)
	switch kind {
	case kindLoglikelihood:
		b = appendString(b, r.Loglikelihood.Context)
		b = appendString(b, r.Loglikelihood.Continuation)
	case kindRolling:
		b = appendString(b, r.Rolling.Text)
		b = appendIDs(b, r.Rolling.IDs)
		b = binary.AppendVarint(b, int64(r.Rolling.ContextLen))
	case kindGenerate:
		b = appendIDs(b, r.Generate.Prefix)
		b = binary.AppendVarint(b, int64(r.Generate.NewTokens))
		if r.Generate.SuppressEOS {
			b = append(b, 's') // only then: keys of plain generation stay as they were
		}
	}
	return sha256.Sum256(b), nil
}

// Keys computes the keys of all requests.
func (s Scope) Keys(reqs []plugins.Request) ([]Key, error) {
	keys := make([]Key, len(reqs))
	for i, r := range reqs {
		k, err := s.Key(r)
		if err != nil {
			return nil, fmt.Errorf("request %d (doc %d): %w", i, r.DocIndex, err)
		}
		keys[i] = k
	}
	return keys, nil
}

// storedKind is how a request kind is written in keys and values: a byte
// that must never change for a kind, or stored keys stop matching.
func storedKind(k plugins.RequestKind) byte {
	switch k {
	case plugins.KindLoglikelihood:
		return kindLoglikelihood
	case plugins.KindLoglikelihoodRolling:
		return kindRolling
	case plugins.KindGenerateTokens:
		return kindGenerate
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendIDs(b []byte, ids []int32) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendVarint(b, int64(id))
	}
	return b
}

// ------------------------------------------------------------ value codec

// encodeResponse gives the stored body of a response (without checksum).
func encodeResponse(r plugins.Response) ([]byte, error) {
	if err := r.CheckKind(); err != nil {
		return nil, err
	}
	kind := storedKind(r.Kind())
	b := []byte{kind}
	switch kind {
	case kindLoglikelihood:
		ll := r.Loglikelihood
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ll.LogLikelihood))
		b = appendBool(b, ll.IsGreedy)
		b = binary.AppendVarint(b, int64(ll.ContextTokens))
		b = binary.AppendVarint(b, int64(ll.ContinuationTokens))
	case kindRolling:
		ro := r.Rolling
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ro.LogLikelihood))
		b = appendFloat32s(b, ro.LogProbs)
		b = appendFloat32s(b, ro.Entropies)
		b = binary.AppendUvarint(b, uint64(len(ro.Greedy)))
		for _, g := range ro.Greedy {
			b = appendBool(b, g)
		}
	case kindGenerate:
		b = appendIDs(b, r.Generate.IDs)
		b = appendFloat32s(b, r.Generate.Entropies)
	}
	// Where a forward pass went non-finite, as an optional tail: entries
	// without one read as before.
	if nf := responseNonFinite(r); nf != "" {
		b = appendString(b, nf)
	}
	return b, nil
}

func responseNonFinite(r plugins.Response) string {
	switch r.Kind() {
	case plugins.KindLoglikelihood:
		return r.Loglikelihood.NonFinite
	case plugins.KindLoglikelihoodRolling:
		return r.Rolling.NonFinite
	case plugins.KindGenerateTokens:
		return r.Generate.NonFinite
	}
	return ""
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendFloat32s(b []byte, xs []float32) []byte {
	b = binary.AppendUvarint(b, uint64(len(xs)))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// reader decodes a body, remembering the first error instead of panicking
// on short or malformed input.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("malformed cache entry")
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

func (r *reader) float64() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, refusing lengths the remaining bytes cannot hold.
func (r *reader) count(elemSize int) int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > uint64(len(r.b)-n)/uint64(elemSize) {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *reader) float32s() []float32 {
	n := r.count(4)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*i:]))
	}
	r.b = r.b[4*n:]
	return out
}

func (r *reader) ids() []int32 {
	n := r.count(1)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		v := r.varint()
		if v < math.MinInt32 || v > math.MaxInt32 {
			r.fail()
		}
		out[i] = int32(v)
	}
	if r.err != nil {
		return nil
	}
	return out
}

func decodeResponse(body []byte) (plugins.Response, byte, error) {
	r := &reader{b: body}
	kind := r.byte()
	var resp plugins.Response
	switch kind {
	case kindLoglikelihood:
		ll := &plugins.LoglikelihoodResult{}
		ll.LogLikelihood = r.float64()
		ll.IsGreedy = r.bool()
		ll.ContextTokens = int(r.varint())
		ll.ContinuationTokens = int(r.varint())
		resp.Loglikelihood = ll
	case kindRolling:
		ro := &plugins.RollingResult{}
		ro.LogLikelihood = r.float64()
		ro.LogProbs = r.float32s()
		ro.Entropies = r.float32s()
		if n := r.count(1); n > 0 {
			ro.Greedy = make([]bool, n)
			for i := range ro.Greedy {
				ro.Greedy[i] = r.bool()
			}
		}
		resp.Rolling = ro
	case kindGenerate:
		g := &plugins.GenerateResult{}
		g.IDs = r.ids()
		g.Entropies = r.float32s()
		resp.Generate = g
	default:
		r.fail()
	}
	if r.err == nil && len(r.b) != 0 {
		nf := r.string()
		if r.err != nil || nf == "" || len(r.b) != 0 {
			r.fail()
		} else {
			switch resp.Kind() {
			case plugins.KindLoglikelihood:
				resp.Loglikelihood.NonFinite = nf
			case plugins.KindLoglikelihoodRolling:
				resp.Rolling.NonFinite = nf
			case plugins.KindGenerateTokens:
				resp.Generate.NonFinite = nf
			}
		}
	}
	return resp, kind, r.err
}

func (r *reader) string() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
