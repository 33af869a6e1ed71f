package shard

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

func randomGroups(r *rand.Rand) []Group {
	var gs []Group
	for g := range 1 + r.IntN(8) {
		grp := Group{Model: fmt.Sprintf("m%d", g%2), Task: fmt.Sprintf("t%d", g), Weight: 1 + r.Int64N(30)}
		idx := r.IntN(50)
		for range r.IntN(300) {
			grp.Docs = append(grp.Docs, Doc{Index: idx, Tokens: 1 + r.Int64N(500)})
			idx += 1 + r.IntN(2)
		}
		gs = append(gs, grp)
	}
	return gs
}

// checkPartition checks that every document of every group is in exactly
// one shard, that pieces are right about themselves, and that each shard's
// work is within one document of the mean.
func checkPartition(t *testing.T, groups []Group, n int, parts [][]Piece) {
	t.Helper()
	require.Len(t, parts, n)
	var total, maxDoc int64
	for _, g := range groups {
		total += g.Work()
		for _, d := range g.Docs {
			maxDoc = max(maxDoc, d.Tokens*g.Weight)
		}
	}
	owner := map[[2]int]int{}
	for s, pieces := range parts {
		var work int64
		seen := map[int]bool{}
		for _, p := range pieces {
			require.False(t, seen[p.Group], "shard %d has two pieces of group %d", s, p.Group)
			seen[p.Group] = true
			g := groups[p.Group]
			var tokens int64
			count := 0
			for _, d := range g.Docs {
				if Contains(p.Docs, d.Index) {
					key := [2]int{p.Group, d.Index}
					prev, dup := owner[key]
					require.False(t, dup, "group %d doc %d in shards %d and %d", p.Group, d.Index, prev, s)
					owner[key] = s
					tokens += d.Tokens
					count++
				}
			}
			assert.Equal(t, tokens, p.Tokens)
			assert.Equal(t, tokens*g.Weight, p.Work)
			assert.Equal(t, count == len(g.Docs), p.Whole)
			assert.Positive(t, count, "an empty piece")
			work += p.Work
		}
		mean := float64(total) / float64(n)
		assert.InDelta(t, mean, float64(work), float64(maxDoc)+1e-9, "shard %d of %d", s, n)
	}
	for gi, g := range groups {
		for _, d := range g.Docs {
			_, ok := owner[[2]int{gi, d.Index}]
			assert.True(t, ok, "group %d doc %d in no shard", gi, d.Index)
		}
	}
}

func TestPartitionCoversAndBalances(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		groups := randomGroups(r)
		n := 1 + r.IntN(12)
		parts := Partition(groups, n)
		checkPartition(t, groups, n, parts)
		// Deterministic: the same plan gives the same split.
		assert.Equal(t, parts, Partition(groups, n))
	}
}

func TestPartitionOneShardHasEverythingWhole(t *testing.T) {
	groups := []Group{
		{Docs: []Doc{{0, 5}, {1, 7}}, Weight: 3},
		{Docs: []Doc{{4, 1}}, Weight: 1},
	}
	parts := Partition(groups, 1)
	require.Len(t, parts[0], 2)
	for _, p := range parts[0] {
		assert.True(t, p.Whole)
	}
	assert.Equal(t, []plugins.DocRange{{First: 0, Last: 1}}, parts[0][0].Docs)
	assert.Equal(t, int64(36), parts[0][0].Work)
}

func TestPartitionSplitsByWorkNotByGroupCount(t *testing.T) {
	// One heavy group and three light ones: the heavy one is cut by
	// document ranges; a split by cells would give one shard 10× the rest.
	heavy := Group{Task: "heavy", Weight: 1}
	for d := range 300 {
		heavy.Docs = append(heavy.Docs, Doc{Index: d, Tokens: 100})
	}
	groups := []Group{heavy}
	for i := range 3 {
		g := Group{Task: fmt.Sprintf("light%d", i), Weight: 1}
		for d := range 10 {
			g.Docs = append(g.Docs, Doc{Index: d, Tokens: 100})
		}
		groups = append(groups, g)
	}
	parts := Partition(groups, 3)
	checkPartition(t, groups, 3, parts)
	for s, pieces := range parts {
		var w int64
		for _, p := range pieces {
			w += p.Work
		}
		assert.Equal(t, int64(11000), w, "shard %d", s)
	}
	assert.False(t, parts[0][0].Whole)
	assert.Equal(t, []plugins.DocRange{{First: 0, Last: 109}}, parts[0][0].Docs)
	assert.Equal(t, []plugins.DocRange{{First: 110, Last: 219}}, parts[1][0].Docs)
	// The last shard: the rest of the heavy group and the light groups whole.
	require.Len(t, parts[2], 4)
	assert.Equal(t, []plugins.DocRange{{First: 220, Last: 299}}, parts[2][0].Docs)
	for _, p := range parts[2][1:] {
		assert.True(t, p.Whole)
	}
}

func TestPartitionMoreShardsThanDocuments(t *testing.T) {
	groups := []Group{{Docs: []Doc{{0, 10}, {1, 10}}, Weight: 1}}
	parts := Partition(groups, 5)
	checkPartition(t, groups, 5, parts)
	busy := 0
	for _, p := range parts {
		busy += len(p)
	}
	assert.Equal(t, 2, busy, "two documents make two busy shards; the rest have nothing to do")
}

func TestPartitionHugeWorkDoesNotOverflow(t *testing.T) {
	groups := []Group{{Docs: []Doc{{0, 1 << 40}, {1, 1 << 40}, {2, 1 << 40}}, Weight: 1 << 20}}
	checkPartition(t, groups, 3, Partition(groups, 3))
}

func TestRangesAndContains(t *testing.T) {
	rs := Ranges([]int{7, 3, 4, 5, 9, 10, 4})
	assert.Equal(t, []plugins.DocRange{{First: 3, Last: 5}, {First: 7, Last: 7}, {First: 9, Last: 10}}, rs)
	for doc, want := range map[int]bool{2: false, 3: true, 5: true, 6: false, 7: true, 8: false, 10: true, 11: false} {
		assert.Equal(t, want, Contains(rs, doc), "doc %d", doc)
	}
	assert.Nil(t, Ranges(nil))
}

func TestRequestTokens(t *testing.T) {
	words := func(s string) int { return len(s) } // one token per byte
	ll := plugins.Request{Loglikelihood: &plugins.LoglikelihoodRequest{Context: "abc", Continuation: " de"}}
	assert.Equal(t, int64(6), RequestTokens(ll, words, 0))
	assert.Equal(t, int64(4), RequestTokens(ll, words, 4), "truncated to the model's window")
	empty := plugins.Request{Loglikelihood: &plugins.LoglikelihoodRequest{Continuation: " de"}}
	assert.Equal(t, int64(4), RequestTokens(empty, words, 0), "an empty context is the end-of-text token")
	ro := plugins.Request{Rolling: &plugins.RollingRequest{IDs: make([]int32, 128)}}
	assert.Equal(t, int64(128), RequestTokens(ro, words, 0))
	rt := plugins.Request{Rolling: &plugins.RollingRequest{Text: "hello"}}
	assert.Equal(t, int64(5), RequestTokens(rt, words, 0))
	ge := plugins.Request{Generate: &plugins.GenerateRequest{Prefix: make([]int32, 32), NewTokens: 32}}
	assert.Equal(t, int64(63), RequestTokens(ge, words, 0))
	assert.Equal(t, int64(2), RequestTokens(ll, nil, 0), "without a tokenizer: 4 bytes a token")

	docs := DocTokens([]plugins.Request{
		{DocIndex: 5, Generate: &plugins.GenerateRequest{Prefix: make([]int32, 2), NewTokens: 3}},
		{DocIndex: 5, Index: 1, Rolling: &plugins.RollingRequest{IDs: make([]int32, 5)}},
		{DocIndex: 2, Rolling: &plugins.RollingRequest{IDs: make([]int32, 7)}},
	}, words, 0)
	assert.Equal(t, []Doc{{Index: 5, Tokens: 9}, {Index: 2, Tokens: 7}}, docs)
}
