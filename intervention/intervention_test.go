package intervention

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOne(t *testing.T) {
	cases := []struct {
		spec   string
		kind   Kind
		blocks []int
		canon  string
	}{
		{"none", None, nil, "none"},
		{"attn-sc:3", AttnShortCircuit, []int{3}, "attn-sc:3"},
		{"attn-sc:1,3", AttnShortCircuit, []int{1, 3}, "attn-sc:1,3"},
		{"attn-sc:3,1,1", AttnShortCircuit, []int{1, 3}, "attn-sc:1,3"},
		{"attn-sc:20-23", AttnShortCircuit, []int{20, 21, 22, 23}, "attn-sc:20-23"},
		{"attn-short-circuit:0,1,5", AttnShortCircuit, []int{0, 1, 5}, "attn-sc:0,1,5"},
		{"attn-zero:2", AttnZero, []int{2}, "attn-zero:2"},
		{"attn-sc:all", AttnShortCircuit, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, "attn-sc:0-23"},
	}
	for _, c := range cases {
		iv, err := ParseOne(c.spec, 24)
		require.NoError(t, err, c.spec)
		if c.kind == None {
			assert.True(t, iv.IsBaseline(), c.spec)
		} else {
			assert.Equal(t, c.kind, iv.Kind, c.spec)
			assert.Equal(t, c.blocks, iv.Blocks, c.spec)
		}
		assert.Equal(t, c.canon, iv.String(), c.spec)
		back, err := ParseOne(iv.String(), 24)
		require.NoError(t, err)
		assert.Equal(t, iv.String(), back.String())
	}
}

func TestResolveEach(t *testing.T) {
	s, err := Parse("attn-sc:each")
	require.NoError(t, err)
	ivs, err := s.Resolve(4)
	require.NoError(t, err)
	require.Len(t, ivs, 4)
	for b, iv := range ivs {
		assert.Equal(t, []int{b}, iv.Blocks)
		assert.True(t, iv.Has(b))
		assert.False(t, iv.Has(b+1))
	}
	_, err = ParseOne("attn-sc:each", 4)
	assert.ErrorContains(t, err, "sweep")
}

func TestParseErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":             "empty",
		"attn":         "unknown kind",
		"attn-sc":      "say which blocks",
		"attn-sc:":     "say which blocks",
		"attn-sc:x":    "not a block number",
		"attn-sc:-1":   "not a block number",
		"attn-sc:5-2":  "backwards",
		"none:3":       "takes no blocks",
		"attn-sc:1,,2": "not a block number",
	} {
		_, err := Parse(spec)
		assert.ErrorContains(t, err, want, "spec %q", spec)
	}
	_, err := ParseOne("attn-sc:6", 6)
	assert.ErrorContains(t, err, "block 6 does not exist")
}

// A huge block number is refused before any list is built: the range
// "0-9223372036854775807" looped forever (k <= b never fails at MaxInt).
func TestHugeBlocksAreRefused(t *testing.T) {
	for _, spec := range []string{"attn-sc:0-9223372036854775807", "attn-sc:65536", "attn-zero:1-99999999999999999999", "attn-sc:0-100000000"} {
		_, err := Parse(spec)
		assert.ErrorContains(t, err, "is past any model (block numbers go up to 65535)", spec)
	}
	s, err := Parse("attn-sc:65535")
	assert.NoError(t, err)
	assert.Equal(t, "attn-sc:65535", s.String())
}

func TestAttentionAt(t *testing.T) {
	sc := New(AttnShortCircuit, 1, 3)
	zero := New(AttnZero, 0)
	for b := 0; b < 4; b++ {
		want := AttentionNormal
		if b == 1 || b == 3 {
			want = AttentionIdentity
		}
		assert.Equal(t, want, sc.AttentionAt(b), "block %d", b)
		assert.Equal(t, AttentionNormal, Baseline().AttentionAt(b))
	}
	assert.Equal(t, AttentionZero, zero.AttentionAt(0))
	assert.Equal(t, AttentionNormal, zero.AttentionAt(1))
	assert.Equal(t, AttentionNormal, Intervention{Kind: "attn-scale", Blocks: []int{0}}.AttentionAt(0), "a kind AttentionAt does not know leaves attention alone")
	assert.Equal(t, "identity", AttentionIdentity.String())
	for _, k := range AttentionKinds {
		assert.NotEqual(t, AttentionNormal, New(k, 2).AttentionAt(2), k)
	}
}
