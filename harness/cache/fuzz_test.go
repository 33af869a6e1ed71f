package cache

import (
	"bytes"
	"testing"

	"github.com/memscope/memscope/plugins"
)

// FuzzResponseValue: any stored value (a damaged page, a value written by
// another version) decodes to a response that re-encodes to the same
// body, or is a miss; never a panic. A checksum in front keeps damage
// from being served, so the body is also decoded on its own, as a value
// whose checksum matches would be.
func FuzzResponseValue(f *testing.F) {
	for i := range 6 {
		body, err := encodeResponse(sample(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		f.Add(encodeValue(sampleKey(i), body))
	}
	nf, _ := encodeResponse(plugins.Response{Generate: &plugins.GenerateResult{IDs: []int32{1}, Entropies: []float32{0}, NonFinite: "logits at position 0"}})
	f.Add(nf)
	f.Add([]byte{kindRolling, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	key := sampleKey(0)
	f.Fuzz(func(t *testing.T, body []byte) {
		if resp, kind, err := decodeResponse(body); err == nil {
			again, err := encodeResponse(resp)
			if err != nil {
				t.Fatalf("decoded kind %d does not encode: %v", kind, err)
			}
			// The body may spell a number longer than needed (an
			// over-long varint); once re-encoded, the encoding is a
			// fixed point, bit for bit (NaN payloads and -0 included).
			resp2, _, err := decodeResponse(again)
			if err != nil {
				t.Fatalf("re-encoded body does not decode: %v", err)
			}
			if third, _ := encodeResponse(resp2); !bytes.Equal(third, again) {
				t.Fatalf("re-encoding is not stable:\n%x\n%x", again, third)
			}
		}
		_, _ = decodeValue(key, body)
		_, _ = decodeValue(key, encodeValue(key, body))
	})
}
