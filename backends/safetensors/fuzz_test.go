package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHeader feeds arbitrary bytes as a whole safetensors file: the
// parser must return an error or a header whose every tensor can be read
// without panicking. Run: go test -run XXX -fuzz FuzzParseHeader -fuzztime 30s
func FuzzParseHeader(f *testing.F) {
	f.Add(fileBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(fileBytes(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[],"data_offsets":[4,12]}}`, make([]byte, 12)))
	f.Add(fileBytes(`{"a":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add(fileBytes(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, make([]byte, 2)))
	f.Add(fileBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)))
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<63)
	f.Add(huge)
	f.Add([]byte{})
	// The first KB of a real fixture.
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "tiny", "gptneo-tiny-fp16", "model.safetensors")); err == nil {
		n := binary.LittleEndian.Uint64(b)
		f.Add(b[:8+n])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := FromBytes(data, "fuzz")
		if err != nil {
			return
		}
		for _, tn := range file.Tensors() {
			if tn.Begin < 0 || tn.End > int64(len(data))-file.Header.DataStart || tn.Begin > tn.End {
				t.Fatalf("accepted span out of bounds: %+v", tn)
			}
			if tn.NumElements() > 1<<20 {
				continue
			}
			_, _ = file.Float32(tn.Name)
			_, _ = file.Int64(tn.Name)
		}
	})
}
