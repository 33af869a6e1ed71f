package cuda

import (
	"fmt"
	"math"
	"slices"

	"github.com/memscope/memscope/backends/checkpoint"
	"github.com/memscope/memscope/backends/cuda/gpu"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/modelconfig"
)

// loader uploads tensors in the model's dtype and keeps the first error.
type loader struct {
	m   *Model
	ck  *checkpoint.Checkpoint
	err error
	buf []float32 // host staging, reused
	// nonFinite lists tensors holding NaN or ±Inf.
	nonFinite []engine.NonFiniteTensor
}

// read reads a tensor as float32 into the staging buffer.
func (l *loader) read(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	info, ok := l.ck.Info(name)
	if ok && !slices.Equal(info.Shape, shape) {
		l.err = fmt.Errorf("tensor %s in %s has shape %v, want %v for this config.json", name, info.File, info.Shape, shape)
		return nil
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if cap(l.buf) < n {
		l.buf = make([]float32, n)
	}
	v := l.buf[:n]
	if err := l.ck.Float32Into(name, v); err != nil {
		l.err = err
		return nil
	}
	if c := engine.CountNonFinite(v); c.Bad() > 0 {
		l.nonFinite = append(l.nonFinite, engine.NonFiniteTensor{Name: name, Count: c})
	}
	return v
}

// upload puts host floats on the device in the model's dtype.
func (l *loader) upload(v []float32) gpu.Ptr {
	if l.err != nil {
		return 0
	}
	p, err := l.m.dev.Alloc(int64(len(v) * l.m.dt.Size()))
	if err != nil {
		l.err = err
		return 0
	}
	l.m.allocs = append(l.m.allocs, p)
	l.err = l.m.dev.Upload(p, encode(v, l.m.dt))
	return p
}

func (l *loader) get(name string, shape ...int) gpu.Ptr {
	v := l.read(name, shape...)
	if v == nil {
		return 0
	}
	return l.upload(v)
}

func (l *loader) linear(prefix string, out, in int, bias bool) linear {
	lin := linear{in: in, out: out, w: l.get(prefix+".weight", out, in)}
	if bias {
		lin.b = l.get(prefix+".bias", out)
	}
	return lin
}

func (l *loader) norm(prefix string, d int) layerNorm {
	return layerNorm{w: l.get(prefix+".weight", d), b: l.get(prefix+".bias", d)}
}

func (l *loader) neox() {
	m := l.m
	c := m.cfg
	D, V, I := c.HiddenSize, c.VocabSize, c.IntermediateSize
	m.embed = l.get("gpt_neox.embed_in.weight", V, D)
	m.blocks = make([]block, c.NumLayers)
	for i := range m.blocks {
		p := fmt.Sprintf("gpt_neox.layers.%d.", i)
		m.blocks[i] = block{
			ln1:   l.norm(p+"input_layernorm", D),
			ln2:   l.norm(p+"post_attention_layernorm", D),
			qkv:   l.linear(p+"attention.query_key_value", 3*D, D, c.AttentionBias),
			dense: l.linear(p+"attention.dense", D, D, c.AttentionBias),
			fc1:   l.linear(p+"mlp.dense_h_to_4h", I, D, true),
			fc2:   l.linear(p+"mlp.dense_4h_to_h", D, I, true),
		}
	}
	m.lnF = l.norm("gpt_neox.final_layer_norm", D)
	if c.TieWordEmbeddings {
		m.unembed = m.embed
	} else {
		m.unembed = l.get("embed_out.weight", V, D)
	}
}

func (l *loader) neo() {
	m := l.m
	c := m.cfg
	D, V, I, H := c.HiddenSize, c.VocabSize, c.IntermediateSize, c.NumHeads
	m.embed = l.get("transformer.wte.weight", V, D)
	m.posEmb = l.get("transformer.wpe.weight", c.MaxPositions, D)
	m.blocks = make([]block, c.NumLayers)
	for i := range m.blocks {
		p := fmt.Sprintf("transformer.h.%d.", i)
		// q, k, v [D, D] each, stacked head by head as (q, k, v) blocks.
		qkv := make([]float32, 3*D*D)
		hd := D / H
		for j, part := range []string{"q_proj", "k_proj", "v_proj"} {
			w := l.read(p+"attn.attention."+part+".weight", D, D)
			for h := 0; w != nil && h < H; h++ {
				copy(qkv[(h*3+j)*hd*D:(h*3+j+1)*hd*D], w[h*hd*D:(h+1)*hd*D])
			}
		}
		m.blocks[i] = block{
			ln1:   l.norm(p+"ln_1", D),
			ln2:   l.norm(p+"ln_2", D),
			qkv:   linear{in: D, out: 3 * D, w: l.upload(qkv)},
			dense: l.linear(p+"attn.attention.out_proj", D, D, true),
			fc1:   l.linear(p+"mlp.c_fc", I, D, true),
			fc2:   l.linear(p+"mlp.c_proj", D, I, true),
			local: c.AttentionTypes[i] == modelconfig.AttentionLocal,
		}
	}
	m.lnF = l.norm("transformer.ln_f", D)
	m.unembed = m.embed // GPT-Neo ties lm_head to wte
}

// encode converts floats to the dtype's little-endian bytes, rounding to
// nearest even (as the kernels' store does).
func encode(v []float32, t gpu.DType) []byte {
	if t == gpu.F32 {
		return f32Bytes(v)
	}
	b := make([]byte, 2*len(v))
	for i, x := range v {
		var h uint16
		if t == gpu.F16 {
			h = F32ToF16(x)
		} else {
			h = F32ToBF16(x)
		}
		b[2*i] = byte(h)
		b[2*i+1] = byte(h >> 8)
	}
	return b
}

// decode is encode's inverse.
func decode(b []byte, t gpu.DType) []float32 {
	if t == gpu.F32 {
		return bytesF32(b)
	}
	v := make([]float32, len(b)/2)
	for i := range v {
		h := uint16(b[2*i]) | uint16(b[2*i+1])<<8
		if t == gpu.F16 {
			v[i] = F16ToF32(h)
		} else {
			v[i] = math.Float32frombits(uint32(h) << 16)
		}
	}
	return v
}

// F32ToBF16 rounds to the nearest bfloat16, ties to even.
func F32ToBF16(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40 // quiet nan
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F32ToF16 rounds to the nearest IEEE half, ties to even.
func F32ToF16(x float32) uint16 {
	u := math.Float32bits(x)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000:
		return sign | 0x7e00
	case a >= 0x477ff000:
		return sign | 0x7c00
	case a < 0x38800000:
		shift := 113 - a>>23
		if shift > 11 {
			return sign
		}
		man := a&0x7fffff | 0x800000
		q := man >> (shift + 13)
		rem := man & (1<<(shift+13) - 1)
		half := uint32(1) << (shift + 12)
		if rem > half || rem == half && q&1 == 1 {
			q++
		}
		return sign | uint16(q)
	}
	r := a + 0xfff + (a>>13)&1
	return sign | uint16((r-0x38000000)>>13)
}

// F16ToF32 widens an IEEE half exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		v := float32(man) * 5.9604644775390625e-8
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}
