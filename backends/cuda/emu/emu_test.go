package emu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/cuda/kernels"
)

func open(t *testing.T) *Device {
	t.Helper()
	if !Available {
		t.Skip("the CPU emulator needs cgo and g++ (this build has CGO_ENABLED=0)")
	}
	d, err := Open(Options{})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// TestKernelTable: the emulator can launch every kernel of kernels.cu
// (each needs a REGISTER line), and nothing else.
func TestKernelTable(t *testing.T) {
	d := open(t)
	assert.Equal(t, kernels.Names(), d.Kernels())
	assert.Contains(t, d.Kernels(), "attention_bf16")
}

// halves lists every finite IEEE half as float64, sorted, with its bits.
func halves() ([]float64, []uint16) {
	type hv struct {
		v float64
		b uint16
	}
	var all []hv
	for b := 0; b < 1<<16; b++ {
		e := (b >> 10) & 0x1f
		if e == 0x1f {
			continue
		}
		m := float64(b & 0x3ff)
		var v float64
		if e == 0 {
			v = m * math.Pow(2, -24)
		} else {
			v = (1 + m/1024) * math.Pow(2, float64(e-15))
		}
		if b&0x8000 != 0 {
			if v == 0 {
				continue // keep +0 only; sign handled separately
			}
			v = -v
		}
		all = append(all, hv{v, uint16(b)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	vs, bs := make([]float64, len(all)), make([]uint16, len(all))
	for i, h := range all {
		vs[i], bs[i] = h.v, h.b
	}
	return vs, bs
}

// nearestHalf is the reference rounding: the nearest half by search,
// ties to the even mantissa, beyond the largest half's rounding boundary
// infinity.
func nearestHalf(x float32, vs []float64, bs []uint16) uint16 {
	v := float64(x)
	sign := uint16(0)
	if math.Signbit(v) {
		sign = 0x8000
		v = -v
	}
	if v >= 65520 {
		return sign | 0x7c00
	}
	i := sort.SearchFloat64s(vs, v)
	if i < len(vs) && vs[i] == v {
		return sign | bs[i]&0x7fff
	}
	if i == len(vs) {
		return sign | 0x7bff // (65504, 65520): 65504 is nearer than 65536
	}
	lo, hi := vs[i-1], vs[i]
	lb, hb := bs[i-1]&0x7fff, bs[i]&0x7fff
	switch {
	case v-lo < hi-v:
		return sign | lb
	case v-lo > hi-v:
		return sign | hb
	case lb&1 == 0:
		return sign | lb
	}
	return sign | hb
}

// TestHalfConversions: the kernels' float32 → f16/bf16 stores round to
// nearest even (checked against a search over every half) and widen back
// exactly.
func TestHalfConversions(t *testing.T) {
	d := open(t)
	rng := rand.New(rand.NewPCG(3, 4))
	xs := []float32{0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, float32(math.Inf(1)), float32(math.Inf(-1)),
		6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 8.940697e-08, 1e-10, 0.1, 1.0009766, 1.00048828125, 1.00146484375}
	for len(xs) < 20000 {
		e := rng.Float64()*40 - 28
		x := float32(math.Pow(2, e) * (1 + rng.Float64()))
		if rng.IntN(2) == 0 {
			x = -x
		}
		xs = append(xs, x)
	}
	n := len(xs)
	in := make([]byte, 4*n)
	for i, x := range xs {
		binary.LittleEndian.PutUint32(in[4*i:], math.Float32bits(x))
	}
	src, err := d.Alloc(int64(4 * n))
	require.NoError(t, err)
	require.NoError(t, d.Upload(src, in))
	vs, bs := halves()
	for _, typ := range []string{"f16", "bf16"} {
		dst, err := d.Alloc(int64(2 * n))
		require.NoError(t, err)
		require.NoError(t, d.Launch("convert_"+typ, gpu.Grid1(8), gpu.Grid1(128), 0, dst, src, int64(n)))
		out := make([]byte, 2*n)
		require.NoError(t, d.Download(out, dst))
		back, err := d.Alloc(int64(4 * n))
		require.NoError(t, err)
		require.NoError(t, d.Launch("widen_"+typ, gpu.Grid1(8), gpu.Grid1(128), 0, back, dst, int64(n)))
		wide := make([]byte, 4*n)
		require.NoError(t, d.Download(wide, back))
		bad := 0
		for i, x := range xs {
			h := binary.LittleEndian.Uint16(out[2*i:])
			var want uint16
			var wantBack float32
			if typ == "f16" {
				want = nearestHalf(x, vs, bs)
				e, m := (want>>10)&0x1f, float64(want&0x3ff)
				v := math.Inf(1)
				if e == 0 {
					v = m * math.Pow(2, -24)
				} else if e != 0x1f {
					v = (1 + m/1024) * math.Pow(2, float64(e)-15)
				}
				if want&0x8000 != 0 {
					v = -v
				}
				wantBack = float32(v)
			} else {
				// bf16: float32's top half, rounded to nearest even in float64
				u := math.Float32bits(x)
				lo, hi := math.Float32frombits(u&0xffff0000), math.Float32frombits((u&0xffff0000)+0x10000)
				dl, dh := math.Abs(float64(x)-float64(lo)), math.Abs(float64(hi)-float64(x))
				want = uint16(u >> 16)
				if dh < dl || dh == dl && want&1 == 1 {
					want++
				}
				wantBack = math.Float32frombits(uint32(want) << 16)
			}
			got := math.Float32frombits(binary.LittleEndian.Uint32(wide[4*i:]))
			if h != want || got != wantBack {
				if bad < 5 {
					t.Errorf("%s(%g): bits %#04x, want %#04x; widened %g, want %g", typ, x, h, want, got, wantBack)
				}
				bad++
			}
		}
		assert.Zero(t, bad, "%s: %d of %d values rounded wrong", typ, bad, n)
	}
}

// TestBoundsChecked: host copies outside an allocation fail with an error.
func TestBoundsChecked(t *testing.T) {
	d := open(t)
	p, err := d.Alloc(64)
	require.NoError(t, err)
	assert.ErrorContains(t, d.Upload(p+32, make([]byte, 64)), "past the end")
	assert.ErrorContains(t, d.Download(make([]byte, 4), p+4096), "not in any allocation")
	_, err = d.Alloc(1 << 40)
	assert.ErrorIs(t, err, gpu.ErrOutOfMemory)
	assert.ErrorContains(t, d.Launch("nope", gpu.Grid1(1), gpu.Grid1(32), 0), "no such kernel")
}
