package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const embedded = "../../harness/embedded/memorizer"

// handmade builds a .npy file the way NumPy lays it out, independently of
// the package's writer: magic, version, header length, dict padded with
// spaces to a multiple of 64 bytes and ended by '\n', then data.
func handmade(major byte, dict string, data []byte) []byte {
	lenBytes := 2
	if major > 1 {
		lenBytes = 4
	}
	pre := 6 + 2 + lenBytes
	pad := 64 - (pre+len(dict)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	if lenBytes == 2 {
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	}
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func TestEmbeddedCanaries(t *testing.T) {
	path := filepath.Join(embedded, "canaries.npy")
	a, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []int{400, 64}, a.Shape)
	assert.Equal(t, "<i4", a.DType)
	rows, err := a.Int32Matrix()
	require.NoError(t, err)
	require.Len(t, rows, 400)

	// Row i equals the tokens of line i of canaries.jsonl.
	jl, err := os.ReadFile(filepath.Join(embedded, "canaries.jsonl"))
	require.NoError(t, err)
	sc := bufio.NewScanner(bytes.NewReader(jl))
	sc.Buffer(nil, 1<<20)
	i := 0
	for sc.Scan() {
		var rec struct{ Tokens []int32 }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		require.Equal(t, rec.Tokens, rows[i], "row %d", i)
		i++
	}
	assert.Equal(t, 400, i)

	// Writing the rows back gives NumPy's bytes exactly.
	var buf bytes.Buffer
	flat := make([]int32, 0, 400*64)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	require.NoError(t, WriteInt32(&buf, a.Shape, flat))
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, orig, buf.Bytes())
}

func TestEmbeddedHeldout(t *testing.T) {
	path := filepath.Join(embedded, "heldout.npy")
	a, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []int{472, 128}, a.Shape)
	rows, err := a.Int32Matrix()
	require.NoError(t, err)
	for _, r := range rows {
		for _, v := range r {
			require.True(t, v >= 0 && v < 4096, "token %d outside the memorizer's vocab", v)
		}
	}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, a))
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, orig, buf.Bytes())
}

// The paper's data is uint16 [15000, 200] in a v1.0 file; a small file of
// the same form.
func TestUint16V1(t *testing.T) {
	vals := []uint16{0, 1, 50256, 65535, 7, 8}
	data := make([]byte, 12)
	for i, v := range vals {
		binary.LittleEndian.PutUint16(data[2*i:], v)
	}
	file := handmade(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }", data)
	require.Zero(t, (len(file)-12)%64)
	a, err := Read(bytes.NewReader(file), "EleutherAI_gpt-neo-1.3B.npy")
	require.NoError(t, err)
	assert.Equal(t, "<u2", a.DType)
	assert.Equal(t, []int{2, 3}, a.Shape)
	rows, err := a.Int32Matrix()
	require.NoError(t, err)
	assert.Equal(t, [][]int32{{0, 1, 50256}, {65535, 7, 8}}, rows)
}

func TestHeaderVersions(t *testing.T) {
	data := make([]byte, 8)
	binary.LittleEndian.PutUint32(data, 5)
	binary.LittleEndian.PutUint32(data[4:], math.MaxUint32)
	for _, major := range []byte{1, 2, 3} {
		file := handmade(major, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", data)
		a, err := Read(bytes.NewReader(file), "v.npy")
		require.NoError(t, err, "version %d", major)
		assert.Equal(t, []int64{5, math.MaxUint32}, a.Ints)
	}
	// Version 3.0 headers are UTF-8; 1.0 must be ASCII here.
	_, err := Read(bytes.NewReader(handmade(3, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", data)), "v3.npy")
	require.NoError(t, err)
	// Python 2 era headers: double quotes, 'L' suffixes, no trailing comma.
	file := handmade(1, `{"descr": "<u4", "fortran_order": False, "shape": (1L, 2L)}`, data)
	a, err := Read(bytes.NewReader(file), "py2.npy")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, a.Shape)
}

func TestAllDTypesRoundTrip(t *testing.T) {
	cases := []*Array{
		{DType: "|b1", Shape: []int{3}, Ints: []int64{0, 1, 1}},
		{DType: "|i1", Shape: []int{2}, Ints: []int64{-128, 127}},
		{DType: "|u1", Shape: []int{2}, Ints: []int64{0, 255}},
		{DType: "<i2", Shape: []int{2}, Ints: []int64{-32768, 32767}},
		{DType: "<u2", Shape: []int{2}, Ints: []int64{0, 65535}},
		{DType: "<i4", Shape: []int{2}, Ints: []int64{math.MinInt32, math.MaxInt32}},
		{DType: "<u4", Shape: []int{2}, Ints: []int64{0, math.MaxUint32}},
		{DType: "<i8", Shape: []int{2}, Ints: []int64{math.MinInt64, math.MaxInt64}},
		{DType: "<u8", Shape: []int{2}, Ints: []int64{0, math.MaxInt64}},
		{DType: "<f2", Shape: []int{4}, Floats: []float64{0.5, -65504, math.Ldexp(1, -24), math.Inf(1)}},
		{DType: "<f4", Shape: []int{2, 2}, Floats: []float64{1.5, -3.25, math.SmallestNonzeroFloat32, math.MaxFloat32}},
		{DType: "<f8", Shape: []int{1, 1, 2}, Floats: []float64{math.Pi, -math.SmallestNonzeroFloat64}},
		{DType: "<i4", Shape: []int{}, Ints: []int64{42}},                   // 0-d
		{DType: "<f4", Shape: []int{0, 5}, Floats: []float64{}},             // empty
		{DType: "<i8", Shape: []int{2, 1, 1, 1, 1, 1}, Ints: []int64{1, 2}}, // rank 6
	}
	for _, want := range cases {
		t.Run(fmt.Sprintf("%s%v", want.DType, want.Shape), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, Write(&buf, want))
			hdrEnd := bytes.IndexByte(buf.Bytes(), '\n') + 1
			assert.Zero(t, hdrEnd%64, "data aligned to 64 bytes")
			got, err := Read(&buf, "rt.npy")
			require.NoError(t, err)
			want.Source = "rt.npy"
			if want.Floats != nil && len(want.Floats) == 0 {
				assert.Empty(t, got.Floats)
				assert.NotNil(t, got.Floats, "float array")
				return
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestF16AllValuesRoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		v := f16ToF64(uint16(h))
		if math.IsNaN(v) {
			require.True(t, f64ToF16(v)&0x7c00 == 0x7c00 && f64ToF16(v)&0x3ff != 0)
			continue
		}
		require.Equal(t, uint16(h), f64ToF16(v), "0x%04x (%v)", h, v)
	}
	// Rounding: halfway between 1 and 1+2^-10 goes to even (1); just above
	// goes up; values past 65520 overflow to infinity.
	assert.Equal(t, uint16(0x3c00), f64ToF16(1+math.Ldexp(1, -11)))
	assert.Equal(t, uint16(0x3c01), f64ToF16(1+math.Ldexp(1, -11)+math.Ldexp(1, -20)))
	assert.Equal(t, uint16(0x7c00), f64ToF16(65520))
	assert.Equal(t, uint16(0x0000), f64ToF16(math.Ldexp(1, -26)))
	assert.Equal(t, uint16(0x0001), f64ToF16(math.Ldexp(1.5, -25)))
}

func TestTypedWriters(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteFloat32(&buf, []int{2, 3}, []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}))
	a, err := Read(&buf, "f.npy")
	require.NoError(t, err)
	f, err := a.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}, f)
	assert.Equal(t, "<f4", a.DType)

	buf.Reset()
	require.NoError(t, WriteInt64(&buf, []int{3}, []int64{-1, 0, 1 << 40}))
	a, err = Read(&buf, "i.npy")
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, 0, 1 << 40}, a.Ints)

	buf.Reset()
	require.NoError(t, WriteFloat64(&buf, []int{1}, []float64{0.1}))
	a, err = Read(&buf, "d.npy")
	require.NoError(t, err)
	assert.Equal(t, []float64{0.1}, a.Floats)

	// NumPy's exact header text for a 1-D array.
	buf.Reset()
	require.NoError(t, WriteInt32(&buf, []int{5}, []int32{1, 2, 3, 4, 5}))
	assert.True(t, bytes.HasPrefix(buf.Bytes(), []byte("\x93NUMPY\x01\x00v\x00{'descr': '<i4', 'fortran_order': False, 'shape': (5,), }  ")))

	// Large data goes through several chunks.
	big := make([]int32, 40000)
	for i := range big {
		big[i] = int32(i * 7)
	}
	buf.Reset()
	require.NoError(t, WriteInt32(&buf, []int{200, 200}, big))
	a, err = Read(&buf, "big.npy")
	require.NoError(t, err)
	rows, err := a.Int32Matrix()
	require.NoError(t, err)
	assert.Equal(t, int32(199*200*7+199*7), rows[199][199])

	assert.ErrorContains(t, WriteInt32(&buf, []int{2, 2}, []int32{1}), "shape [2 2] holds 4 values, got 1")
	assert.ErrorContains(t, WriteInt32(&buf, []int{-1}, nil), "negative dimension")
}

func TestWriteRejectsValuesThatDoNotFit(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, &Array{DType: "<u2", Shape: []int{1, 2}, Ints: []int64{3, 70000}})
	require.ErrorContains(t, err, "value 70000 at [0, 1] does not fit <u2")
	assert.Zero(t, buf.Len(), "nothing written")
	require.ErrorContains(t, Write(&buf, &Array{DType: "<f4", Shape: []int{1}, Ints: []int64{1}}), "needs Floats")
	require.ErrorContains(t, Write(&buf, &Array{DType: "<c8", Shape: []int{1}, Floats: []float64{1}}), "dtype <c8 is not supported")
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.npy")
	a := &Array{DType: "<i8", Shape: []int{2, 2}, Ints: []int64{1, 2, 3, 4}}
	require.NoError(t, WriteFile(path, a))
	got, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, a.Ints, got.Ints)
	// A failed write leaves the old file intact and no temporary behind.
	require.Error(t, WriteFile(path, &Array{DType: "|u1", Shape: []int{1}, Ints: []int64{300}}))
	got, err = ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, a.Ints, got.Ints)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestSeveralArraysInOneStream(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteInt32(&buf, []int{2}, []int32{1, 2}))
	require.NoError(t, WriteFloat32(&buf, []int{1}, []float32{0.5}))
	a, err := Read(&buf, "s")
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, a.Ints)
	b, err := Read(&buf, "s")
	require.NoError(t, err)
	assert.Equal(t, []float64{0.5}, b.Floats)
}

func TestFortranOrder(t *testing.T) {
	data := make([]byte, 16)
	_, err := Read(bytes.NewReader(handmade(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2), }", data)), "f.npy")
	require.EqualError(t, err, "f.npy: array is stored in Fortran order; memscope reads C order (save np.ascontiguousarray(arr))")
	// 1-D: both orders are the same layout.
	a, err := Read(bytes.NewReader(handmade(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (4,), }", data)), "f1.npy")
	require.NoError(t, err)
	assert.Equal(t, []int{4}, a.Shape)
}

func TestInt32Matrix(t *testing.T) {
	a := &Array{DType: "<i8", Shape: []int{2, 3}, Ints: []int64{1, 2, 3, 4, 1 << 31, 6}, Source: "ids.npy"}
	_, err := a.Int32Matrix()
	require.EqualError(t, err, "ids.npy: value 2147483648 at [1, 1] does not fit int32")
	a.Ints[4] = -1 << 31
	rows, err := a.Int32Matrix()
	require.NoError(t, err)
	assert.Equal(t, [][]int32{{1, 2, 3}, {4, math.MinInt32, 6}}, rows)
	rows[0] = append(rows[0], 99)
	assert.Equal(t, int32(4), rows[1][0], "rows do not alias each other on append")

	_, err = (&Array{DType: "<f4", Shape: []int{1, 1}, Floats: []float64{1}, Source: "canaries.npy"}).Int32Matrix()
	require.EqualError(t, err, "canaries.npy: dtype <f4, want integer token ids")
	_, err = (&Array{DType: "<i4", Shape: []int{3}, Ints: []int64{1, 2, 3}, Source: "x.npy"}).Int32Matrix()
	require.EqualError(t, err, "x.npy: shape (3), want a 2-D array (rows × tokens)")
	_, err = (&Array{DType: "<i4", Shape: []int{1}, Ints: []int64{1}, Source: "x.npy"}).Float32s()
	require.ErrorContains(t, err, "want a float array")
}

// Each corrupt input gives an error naming the file and the problem.
func TestCorruptInputs(t *testing.T) {
	dict := func(descr, shape string) string {
		return fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	}
	u64max := make([]byte, 8)
	binary.LittleEndian.PutUint64(u64max, math.MaxUint64)
	absurd := []byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f")
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a .npy file: too short"},
		{"bad magic", []byte("PK\x03\x04\x00\x00\x00\x00\x00\x00"), "not a .npy file (bad magic"},
		{"version 4", append([]byte("\x93NUMPY\x04\x00"), 0, 0), "format version 4.0 is not supported"},
		{"truncated header", []byte("\x93NUMPY\x01\x00\x76\x00{'descr'"), "truncated header (118 bytes announced)"},
		{"absurd header length", absurd, "header length 2147483647 is absurd"},
		{"truncated data", handmade(1, dict("<i4", "(2, 3)"), make([]byte, 20)), "truncated: shape (2, 3) of <i4 needs 24 data bytes, file has 20"},
		{"big-endian", handmade(1, dict(">i4", "(1,)"), make([]byte, 4)), "dtype >i4 is big-endian"},
		{"complex", handmade(1, dict("<c8", "(1,)"), make([]byte, 8)), "dtype <c8 is not supported"},
		{"object", handmade(1, dict("|O", "(1,)"), make([]byte, 8)), "dtype |O is not supported"},
		{"structured", handmade(1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), "structured dtypes are not supported"},
		{"unknown key", handmade(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), 'x': True}", make([]byte, 4)), `unexpected key "x"`},
		{"missing key", handmade(1, "{'descr': '<i4', 'shape': (1,), }", make([]byte, 4)), "must have descr, fortran_order and shape"},
		{"bad dict", handmade(1, "{'descr': '<i4' 'fortran_order': False}", nil), "corrupt header"},
		{"negative dim", handmade(1, dict("<i4", "(-1, 2)"), nil), "non-negative integers"},
		{"huge dims", handmade(1, dict("<i8", "(4294967296, 4294967296)"), nil), "too large"},
		{"shape not tuple", handmade(1, dict("<i4", "5"), nil), "unsupported value"},
		{"u8 over int64", handmade(1, dict("<u8", "(1, 1)"), u64max), "value 18446744073709551615 at [0, 0] does not fit int64"},
		{"bool not 0/1", handmade(1, dict("|b1", "(2,)"), []byte{1, 2}), "boolean at [1] holds 2"},
		{"non-ascii v1", handmade(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), 'é': 1}", make([]byte, 4)), "non-ASCII"},
		{"text after dict", handmade(1, dict("<i4", "(1,)")+" x", make([]byte, 4)), "text after the dictionary"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.npy")
			require.NoError(t, os.WriteFile(path, c.file, 0o644))
			_, err := ReadFile(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestTrailingBytes(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteInt32(&buf, []int{1}, []int32{1}))
	buf.WriteString("junk")
	path := filepath.Join(t.TempDir(), "t.npy")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	_, err := ReadFile(path)
	require.EqualError(t, err, path+": 4 unexpected bytes after the array data (corrupt file?)")
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "none.npy"))
	require.ErrorContains(t, err, "none.npy")
}

// FuzzRead: no input panics, and whatever is read writes back and reads
// again identically.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteInt32(&buf, []int{2, 2}, []int32{1, 2, 3, 4})
	f.Add(buf.Bytes())
	f.Add(handmade(3, "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", []byte{0, 0x3c}))
	f.Add(handmade(2, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }", []byte{1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, a); err != nil {
			t.Fatalf("read %v %s but cannot write it: %v", a.Shape, a.DType, err)
		}
		b, err := Read(&out, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		if !assert.ObjectsAreEqual(a.Shape, b.Shape) || a.DType != b.DType || a.Len() != b.Len() {
			t.Fatalf("round trip changed the array")
		}
	})
}
