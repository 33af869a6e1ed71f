package shard

import (
	"math/bits"
	"sort"

	"github.com/memscope/memscope/plugins"
)

// Doc is one document of a group and its estimated tokens forwarded under
// one intervention.
type Doc struct {
	Index  int
	Tokens int64
}

// Group is the unit the split cuts: one task's documents on one model,
// under every intervention of the plan.
type Group struct {
	Model, Task string
	Docs        []Doc // in the order the task lists them
	// Weight multiplies a document's tokens into work: the model's
	// interventions (baseline included) × its cost per token.
	Weight int64
}

// Work is the group's estimated work.
func (g Group) Work() int64 {
	var w int64
	for _, d := range g.Docs {
		w += d.Tokens * g.Weight
	}
	return w
}

// Piece is the part of a group that one shard computes.
type Piece struct {
	Group  int                // index into the groups given to Partition
	Docs   []plugins.DocRange // its documents, sorted and merged
	Whole  bool               // every document of the group
	Tokens int64              // estimated tokens forwarded under one intervention
	Work   int64              // Tokens × the group's weight
}

// Partition splits the groups into n shards of about equal work. The
// groups are laid end to end in the order given (models, then tasks) and
// cut into n spans of equal work at document boundaries: a document goes
// to the shard its midpoint falls in. So each shard's work is within one
// document's work of the mean, a shard holds few groups (contiguous in the
// plan), and at most n-1 groups are split. Documents are never split.
// The result depends only on the arguments (integer arithmetic).
func Partition(groups []Group, n int) [][]Piece {
	out := make([][]Piece, n)
	if n <= 0 {
		return out
	}
	var total int64
	for _, g := range groups {
		total += g.Work()
	}
	var before int64 // work of the documents already placed
	for gi, g := range groups {
		byShard := map[int][]Doc{}
		var order []int
		for _, d := range g.Docs {
			w := d.Tokens * g.Weight
			s := shardOf(before, w, total, n)
			if _, ok := byShard[s]; !ok {
				order = append(order, s)
			}
			byShard[s] = append(byShard[s], d)
			before += w
		}
		for _, s := range order {
			docs := byShard[s]
			p := Piece{Group: gi, Whole: len(docs) == len(g.Docs)}
			idx := make([]int, len(docs))
			for i, d := range docs {
				idx[i] = d.Index
				p.Tokens += d.Tokens
			}
			p.Work = p.Tokens * g.Weight
			p.Docs = Ranges(idx)
			out[s] = append(out[s], p)
		}
	}
	return out
}

// shardOf is min(n-1, ⌊n·(before + w/2) / total⌋), without overflow.
func shardOf(before, w, total int64, n int) int {
	if total <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(2*before+w), uint64(n))
	q, _ := bits.Div64(hi, lo, uint64(2*total))
	return int(min(q, uint64(n-1)))
}

// Ranges turns document indices into sorted, merged inclusive ranges.
func Ranges(idx []int) []plugins.DocRange {
	s := append([]int(nil), idx...)
	sort.Ints(s)
	var out []plugins.DocRange
	for _, i := range s {
		if k := len(out) - 1; k >= 0 && i <= out[k].Last+1 {
			out[k].Last = max(out[k].Last, i)
			continue
		}
		out = append(out, plugins.DocRange{First: i, Last: i})
	}
	return out
}

// Contains reports whether doc lies in the ranges (sorted, as Ranges
// returns them).
func Contains(rs []plugins.DocRange, doc int) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Last >= doc })
	return i < len(rs) && rs[i].First <= doc
}
