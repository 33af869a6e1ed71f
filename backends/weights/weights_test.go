package weights

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/checkpoint"
)

// recorder keeps every tensor it is given, by name.
type recorder struct {
	got     map[string][]float32
	bufSize func(t arch.Tensor) int // nil: exact
	fail    error
}

func (r *recorder) Buffer(t arch.Tensor) ([]float32, error) {
	n := t.Elements()
	if r.bufSize != nil {
		n = r.bufSize(t)
	}
	return make([]float32, n), nil
}

func (r *recorder) Filled(t arch.Tensor, buf []float32) error {
	if r.fail != nil {
		return r.fail
	}
	if r.got == nil {
		r.got = map[string][]float32{}
	}
	r.got[t.String()] = buf
	return nil
}

// TestLoadNeo: every tensor arrives once; stored tensors are as stored;
// GPT-Neo's q, k, v are interleaved head by head into the QKV layout.
func TestLoadNeo(t *testing.T) {
	ck, err := checkpoint.Open("../testdata/tiny/gptneo-tiny-fp16")
	require.NoError(t, err)
	defer ck.Close()
	var r recorder
	nonFinite, err := Load(ck, &r)
	require.NoError(t, err)
	assert.Empty(t, nonFinite)
	a, err := arch.For(ck.Config)
	require.NoError(t, err)
	tensors := a.Tensors(ck.Config)
	assert.Len(t, r.got, len(tensors))
	D, H := ck.Config.HiddenSize, ck.Config.NumHeads
	hd := D / H
	for _, tn := range tensors {
		got := r.got[tn.String()]
		require.Len(t, got, tn.Elements(), tn.String())
		if tn.Layout == arch.AsStored {
			want, err := ck.Float32(tn.Sources[0])
			require.NoError(t, err)
			assert.Equal(t, want, got, tn.String())
			continue
		}
		// Row r of head h's block j (q, k, v) is row h*hd+r of source j.
		for j, src := range tn.Sources {
			w, err := ck.Float32(src)
			require.NoError(t, err)
			for h := 0; h < H; h++ {
				for row := 0; row < hd; row++ {
					dst := ((h*3+j)*hd + row) * D
					assert.Equal(t, w[(h*hd+row)*D:(h*hd+row+1)*D], got[dst:dst+D], "%s head %d row %d", src, h, row)
				}
			}
		}
	}
}

func TestLoadSinkErrors(t *testing.T) {
	ck, err := checkpoint.Open("../testdata/tiny/gptneox-tiny")
	require.NoError(t, err)
	defer ck.Close()
	_, err = Load(ck, &recorder{bufSize: func(t arch.Tensor) int { return t.Elements() - 1 }})
	assert.EqualError(t, err, "embed: the engine gave a buffer of 24575 values for 24576")
	boom := errors.New("no room")
	_, err = Load(ck, &recorder{fail: boom})
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "embed: no room")
}

func TestRandom(t *testing.T) {
	cfg, err := arch.LoadConfig("../testdata/tiny/gptneo-tiny/config.json")
	require.NoError(t, err)
	var a, b, c recorder
	require.NoError(t, Random(cfg, 1, &a))
	require.NoError(t, Random(cfg, 1, &b))
	require.NoError(t, Random(cfg, 2, &c))
	assert.Equal(t, a.got, b.got, "one seed, one model")
	assert.NotEqual(t, a.got["embed"], c.got["embed"])
	for _, v := range a.got["block 2 attn_norm.weight"] {
		assert.Equal(t, float32(1), v)
	}
	for _, v := range a.got["final_norm.bias"] {
		assert.Equal(t, float32(0), v)
	}
	var sq float64
	w := a.got["block 0 mlp_in.weight"]
	for _, v := range w {
		sq += float64(v) * float64(v)
	}
	assert.InDelta(t, 0.02, math.Sqrt(sq/float64(len(w))), 0.001, "std 0.02")
}
