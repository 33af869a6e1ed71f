package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// f16Reference decodes binary16 by its definition in float64.
func f16Reference(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if mant == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	case 0:
		return sign * math.Ldexp(mant/1024, -14)
	default:
		return sign * math.Ldexp(1+mant/1024, exp-15)
	}
}

func TestF16HandDecoded(t *testing.T) {
	cases := map[uint16]float32{
		0x0000: 0,
		0x3c00: 1,
		0xc000: -2,
		0x3555: 0.333251953125,
		0x7bff: 65504,                          // largest finite
		0x0400: float32(math.Ldexp(1, -14)),    // smallest normal
		0x03ff: float32(math.Ldexp(1023, -24)), // largest subnormal
		0x0001: float32(math.Ldexp(1, -24)),    // smallest subnormal
		0x8001: -float32(math.Ldexp(1, -24)),
		0x7c00: float32(math.Inf(1)),
		0xfc00: float32(math.Inf(-1)),
	}
	for bits, want := range cases {
		assert.Equal(t, want, F16ToF32(bits), "0x%04x", bits)
	}
	assert.Equal(t, uint32(0x80000000), math.Float32bits(F16ToF32(0x8000)), "negative zero keeps its sign")
	assert.True(t, math.IsNaN(float64(F16ToF32(0x7e00))))
	assert.True(t, math.IsNaN(float64(F16ToF32(0xfc01))), "signalling NaN stays NaN")
	assert.Equal(t, uint32(0x7fc02000), math.Float32bits(F16ToF32(0x7e01)), "NaN payload kept")
}

func TestF16AllValues(t *testing.T) {
	dst := make([]float32, 1<<16)
	src := make([]byte, 2<<16)
	for i := range 1 << 16 {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	DecodeF16(dst, src)
	for i := range 1 << 16 {
		want := f16Reference(uint16(i))
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(float64(dst[i])), "0x%04x", i)
			continue
		}
		require.Equal(t, want, float64(dst[i]), "0x%04x", i)
	}
}

func TestBF16(t *testing.T) {
	dst := make([]float32, 6)
	DecodeBF16(dst, le16(0x3f80, 0xc2f7, 0x7f80, 0xff80, 0x0001, 0x8000))
	assert.Equal(t, float32(1), dst[0])
	assert.Equal(t, float32(-123.5), dst[1])
	assert.True(t, math.IsInf(float64(dst[2]), 1))
	assert.True(t, math.IsInf(float64(dst[3]), -1))
	assert.Equal(t, math.Float32frombits(0x00010000), dst[4], "bf16 subnormal")
	assert.Equal(t, uint32(0x80000000), math.Float32bits(dst[5]))
}

// rawTensor reads a tensor's bytes from a fixture file independently of
// the package's parser.
func rawTensor(t *testing.T, path, name string) (dtype string, data []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b[8:8+n], &hdr))
	var e struct {
		DType   string   `json:"dtype"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	require.NoError(t, json.Unmarshal(hdr[name], &e))
	start := 8 + int64(n)
	return e.DType, b[start+e.Offsets[0] : start+e.Offsets[1]]
}

const tiny = "../testdata/tiny"

// The bf16 fixture holds gptneox-tiny's fp32 weights rounded to nearest
// even; the fp16 fixture holds gptneo-tiny's weights rounded to the nearest
// binary16. Check the decoded values against both.
func TestFixtureBF16IsRoundedF32(t *testing.T) {
	f32, err := Open(filepath.Join(tiny, "gptneox-tiny", "model.safetensors"))
	require.NoError(t, err)
	defer f32.Close()
	bf, err := Open(filepath.Join(tiny, "gptneox-tiny-bf16", "model.safetensors"))
	require.NoError(t, err)
	defer bf.Close()
	require.Len(t, bf.Tensors(), len(f32.Tensors()))
	for _, tn := range bf.Tensors() {
		require.Equal(t, BF16, tn.DType)
		x, err := f32.Float32(tn.Name)
		require.NoError(t, err)
		y, err := bf.Float32(tn.Name)
		require.NoError(t, err)
		for i := range x {
			b := math.Float32bits(x[i])
			b += 0x7fff + (b>>16)&1 // round to nearest even at bit 16
			require.Equal(t, b&0xffff0000, math.Float32bits(y[i]), "%s[%d]", tn.Name, i)
		}
	}
	// A few values by hand from the raw bits.
	name := "gpt_neox.layers.0.attention.query_key_value.weight"
	dt, raw := rawTensor(t, filepath.Join(tiny, "gptneox-tiny-bf16", "model.safetensors"), name)
	require.Equal(t, "BF16", dt)
	y, err := bf.Float32(name)
	require.NoError(t, err)
	for _, i := range []int{0, 1, 777, len(y) - 1} {
		bits := binary.LittleEndian.Uint16(raw[2*i:])
		sign := 1.0
		if bits&0x8000 != 0 {
			sign = -1
		}
		e := int(bits>>7) & 0xff
		m := float64(bits & 0x7f)
		require.NotZero(t, e, "normal value expected")
		assert.Equal(t, sign*math.Ldexp(1+m/128, e-127), float64(y[i]), "element %d (bits 0x%04x)", i, bits)
	}
}

func TestFixtureF16IsRoundedF32(t *testing.T) {
	f32, err := Open(filepath.Join(tiny, "gptneo-tiny", "model.safetensors"))
	require.NoError(t, err)
	defer f32.Close()
	path := filepath.Join(tiny, "gptneo-tiny-fp16", "model.safetensors")
	h, err := Open(path)
	require.NoError(t, err)
	defer h.Close()
	require.Len(t, h.Tensors(), len(f32.Tensors()))
	for _, tn := range h.Tensors() {
		require.Equal(t, F16, tn.DType)
		x, err := f32.Float32(tn.Name)
		require.NoError(t, err)
		y, err := h.Float32(tn.Name)
		require.NoError(t, err)
		_, raw := rawTensor(t, path, tn.Name)
		for i := range x {
			bits := binary.LittleEndian.Uint16(raw[2*i:])
			require.Equal(t, f16Reference(bits), float64(y[i]))
			// y is the binary16 nearest to x: its neighbours are no closer.
			d := math.Abs(float64(x[i]) - float64(y[i]))
			for _, nb := range []uint16{bits - 1, bits + 1} {
				if v := f16Reference(nb); !math.IsNaN(v) && !math.IsInf(v, 0) && (nb^bits)&0x8000 == 0 {
					require.LessOrEqual(t, d, math.Abs(float64(x[i])-v), "%s[%d]", tn.Name, i)
				}
			}
		}
	}
}

func TestReferenceInt64(t *testing.T) {
	f, err := Open(filepath.Join(tiny, "gptneox-tiny", "reference.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	info, ok := f.Lookup("input_ids")
	require.True(t, ok)
	assert.Equal(t, I64, info.DType)
	ids, err := f.Int64("input_ids")
	require.NoError(t, err)
	require.Len(t, ids, info.NumElements())
	for _, id := range ids {
		require.True(t, id >= 0 && id < 384, "token id %d out of vocab", id)
	}
}
