package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileBytes assembles a safetensors file from a raw JSON header and data.
func fileBytes(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

type entry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// headerJSON renders entries (laid out back to back in order) as a header.
func headerJSON(t *testing.T, meta map[string]string, names []string, entries map[string]entry) string {
	t.Helper()
	m := map[string]any{}
	for _, n := range names {
		m[n] = entries[n]
	}
	if meta != nil {
		m["__metadata__"] = meta
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func writeFile(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	return path
}

func le32(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func le16(vals ...uint16) []byte {
	b := make([]byte, 2*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// validFile has an F32 [2 2], a BF16 [3], an F16 [3] and an I64 [2] tensor.
func validFile(t *testing.T) []byte {
	t.Helper()
	var data []byte
	data = append(data, le32(1, -2, 0.5, 3.25)...)                      // 0..16
	data = append(data, le16(0x3f80, 0xc2f7, 0x0001)...)                // 16..22: 1, -123.5, smallest subnormal
	data = append(data, le16(0x3c00, 0x0001, 0xfc00)...)                // 22..28: 1, 2^-24, -Inf
	data = append(data, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // 28..36: -1
	data = append(data, 7, 0, 0, 0, 0, 0, 0, 0)                         // 36..44: 7
	entries := map[string]entry{
		"w":   {"F32", []int{2, 2}, [2]int{0, 16}},
		"b":   {"BF16", []int{3}, [2]int{16, 22}},
		"h":   {"F16", []int{3}, [2]int{22, 28}},
		"ids": {"I64", []int{2}, [2]int{28, 44}},
	}
	return fileBytes(headerJSON(t, map[string]string{"format": "pt"}, []string{"w", "b", "h", "ids"}, entries), data)
}

func TestOpenValid(t *testing.T) {
	path := writeFile(t, validFile(t))
	f, err := Open(path)
	require.NoError(t, err)
	defer f.Close()

	assert.Equal(t, map[string]string{"format": "pt"}, f.Header.Metadata)
	var names []string
	for _, tn := range f.Tensors() {
		names = append(names, tn.Name)
	}
	assert.Equal(t, []string{"b", "h", "ids", "w"}, names, "sorted by name")

	w, err := f.Float32("w")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2, 0.5, 3.25}, w)

	b, err := f.Float32("b")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -123.5, math.Float32frombits(0x00010000)}, b)

	h, err := f.Float32("h")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, float32(math.Ldexp(1, -24)), float32(math.Inf(-1))}, h)

	ids, err := f.Int64("ids")
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, 7}, ids)

	_, err = f.Int64("w")
	require.ErrorContains(t, err, "not an integer type")

	_, err = f.Float32("nope")
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, `no tensor "nope"`)
}

func TestFromBytesMatchesOpen(t *testing.T) {
	content := validFile(t)
	f, err := FromBytes(content, "mem")
	require.NoError(t, err)
	w, err := f.Float32("w")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2, 0.5, 3.25}, w)
	require.NoError(t, f.Close())
}

func TestUnsupportedDTypeConversion(t *testing.T) {
	path := writeFile(t, validFile(t))
	f, err := Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Float32("ids")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrDType)
	assert.Contains(t, err.Error(), fmt.Sprintf("tensor ids in %s has dtype I64; memscope reads F32, F16 and BF16 weights", path))
}

func TestOtherDTypesRecognized(t *testing.T) {
	// Every dtype of the format parses; sub-byte ones must fill whole bytes.
	for _, dt := range []DType{BOOL, U8, I8, F8E5M2, F8E4M3, F8E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64} {
		size := dt.Bits() / 8
		hdr := fmt.Sprintf(`{"x":{"dtype":%q,"shape":[2],"data_offsets":[0,%d]}}`, dt, 2*size)
		_, err := FromBytes(fileBytes(hdr, make([]byte, 2*size)), "f")
		assert.NoError(t, err, dt)
	}
	_, err := FromBytes(fileBytes(`{"x":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}`, make([]byte, 2)), "f")
	assert.NoError(t, err)
	_, err = FromBytes(fileBytes(`{"x":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, make([]byte, 2)), "f")
	assert.ErrorContains(t, err, "do not fill whole bytes")
}

func TestScalarAndEmptyTensors(t *testing.T) {
	hdr := `{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}}`
	f, err := FromBytes(fileBytes(hdr, le32(2.5)), "f")
	require.NoError(t, err)
	s, err := f.Float32("s")
	require.NoError(t, err)
	assert.Equal(t, []float32{2.5}, s)
	e, err := f.Float32("e")
	require.NoError(t, err)
	assert.Empty(t, e)
}

// Each corrupt file is rejected by Open with a message naming the file and
// the problem.
func TestCorruptFiles(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	absurd := make([]byte, 16)
	binary.LittleEndian.PutUint64(absurd, 1<<40)
	pastEnd := make([]byte, 16)
	binary.LittleEndian.PutUint64(pastEnd, 100)
	cases := []struct {
		name    string
		content []byte
		want    string
	}{
		{"empty", nil, "too short"},
		{"short", []byte{1, 2, 3}, "too short"},
		{"absurd header length", absurd, "header length 1099511627776 is absurd"},
		{"header past end", pastEnd, "header length 100 goes past the end of the 16-byte file"},
		{"bad json", fileBytes(`{"a":{"dtype":"F32",`, nil), "invalid JSON"},
		{"not an object", fileBytes(`[1,2]`, nil), "not a JSON object"},
		{"trailing garbage", fileBytes(good+"x", make([]byte, 8)), "invalid JSON"},
		{"unknown dtype", fileBytes(`{"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), `tensor "a": unknown dtype "F12"`},
		{"missing dtype", fileBytes(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)), "needs dtype, shape and data_offsets"},
		{"entry not object", fileBytes(`{"a":5}`, nil), `tensor "a": invalid entry`},
		{"shape mismatch", fileBytes(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8"},
		{"negative dim", fileBytes(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, make([]byte, 8)), "negative dimension"},
		{"huge shape", fileBytes(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8)), "too large"},
		{"three offsets", fileBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, make([]byte, 8)), "must be [begin, end]"},
		{"reversed offsets", fileBytes(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, make([]byte, 8)), "invalid data_offsets [8, 0]"},
		{"float offset", fileBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}`, make([]byte, 8)), "invalid entry"},
		{"truncated data", fileBytes(good, make([]byte, 6)), "go past the end of the data (6 bytes; file truncated?)"},
		{"overlap", fileBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `tensors "a" [0, 8) and "b" [4, 8) overlap`},
		{"bad metadata", fileBytes(`{"__metadata__":{"n":1}}`, nil), "__metadata__ must map strings to strings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.content)
			f, err := Open(path)
			if f != nil {
				f.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "none.safetensors"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none.safetensors")
}

func TestClosedFile(t *testing.T) {
	f, err := Open(writeFile(t, validFile(t)))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "second Close is a no-op")
	_, err = f.Float32("w")
	require.ErrorContains(t, err, "file is closed")
}

func TestConcurrentReads(t *testing.T) {
	f, err := Open(filepath.Join("..", "testdata", "tiny", "gptneox-tiny-bf16", "model.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	want := map[string][]float32{}
	for _, tn := range f.Tensors() {
		want[tn.Name], err = f.Float32(tn.Name)
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i, tn := range f.Tensors() {
				if i%8 != g {
					continue
				}
				got, err := f.Float32(tn.Name)
				if err != nil {
					errs <- err
					return
				}
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[tn.Name][j]) {
						errs <- fmt.Errorf("%s[%d] differs", tn.Name, j)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
