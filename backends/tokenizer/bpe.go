package tokenizer

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"
)

// Merges are kept in one map from the pair of ids (a<<32 | b) to
// rank<<32 | id of the merged token.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

const noMerge = ^uint64(0)

func (t *Tokenizer) merge(a, b int32) uint64 {
	if m, ok := t.merges[pairKey(a, b)]; ok {
		return m
	}
	return noMerge
}

// maxCachedWord is the longest word (in bytes) whose BPE result is cached:
// longer ones are rare and would only fill the cache.
const maxCachedWord = 64

// heapThreshold is the word length (in symbols) from which merging uses a
// heap instead of rescanning all pairs after each merge.
const heapThreshold = 48

// appendWord appends the BPE ids of one pre-tokenized word (raw bytes; the
// byte-level mapping is implicit in byteID).
func (t *Tokenizer) appendWord(dst []int32, word string) []int32 {
	if len(word) == 1 {
		if id := t.byteID[word[0]]; id >= 0 {
			return append(dst, id)
		}
	}
	cacheable := t.cache != nil && len(word) <= maxCachedWord
	if cacheable {
		if ids, ok := t.cache.get(word); ok {
			return append(dst, ids...)
		}
	}
	start := len(dst)
	dst = t.mergeWord(dst, word)
	if cacheable {
		t.cache.put(strings.Clone(word), slices.Clone(dst[start:]))
	}
	return dst
}

// mergeWord appends the initial symbols of word to dst and merges them in
// place, as HF's BPE::merge_word and Word::merge_all do: repeatedly apply
// the merge of lowest rank, the leftmost one on ties.
func (t *Tokenizer) mergeWord(dst []int32, word string) []int32 {
	start := len(dst)
	if t.ignoreMerges {
		if id, ok := t.vocab[byteLevelString(word)]; ok {
			return append(dst, id)
		}
	}
	dst = t.appendSymbols(dst, word)
	syms := dst[start:]
	if len(syms) >= heapThreshold {
		return dst[:start+mergeHeap(t, syms)]
	}
	return dst[:start+mergeScan(t, syms)]
}

// mergeScan merges short words: after each merge it rescans the pairs for
// the lowest rank. It rewrites syms in place and returns the new length.
func mergeScan(t *Tokenizer, syms []int32) int {
	if len(syms) < 2 {
		return len(syms)
	}
	// pairs[i] describes the merge of syms[i] and syms[i+1].
	var buf [heapThreshold]uint64
	pairs := buf[:0]
	if len(syms)-1 > len(buf) {
		pairs = make([]uint64, 0, len(syms)-1)
	}
	for i := 0; i+1 < len(syms); i++ {
		pairs = append(pairs, t.merge(syms[i], syms[i+1]))
	}
	for len(pairs) > 0 {
		// A rank names one merge, so comparing whole entries orders by
		// rank, and strict < keeps the leftmost of equal pairs.
		best, bi := noMerge, -1
		for i, p := range pairs {
			if p < best {
				best, bi = p, i
			}
		}
		if bi < 0 {
			break
		}
		syms[bi] = int32(uint32(best))
		copy(syms[bi+1:], syms[bi+2:])
		syms = syms[:len(syms)-1]
		copy(pairs[bi:], pairs[bi+1:])
		pairs = pairs[:len(pairs)-1]
		if bi > 0 {
			pairs[bi-1] = t.merge(syms[bi-1], syms[bi])
		}
		if bi < len(pairs) {
			pairs[bi] = t.merge(syms[bi], syms[bi+1])
		}
	}
	return len(syms)
}

// appendSymbols appends the initial BPE symbols of word: one per byte
// (the id of its byte-level character). A character missing from the
// vocabulary is handled as HF's merge_word does: byte-fallback tokens
// <0xXX> for its UTF-8 bytes if enabled and present, else the unk token
// (consecutive unks fused when fuse_unk), else it is dropped.
func (t *Tokenizer) appendSymbols(dst []int32, word string) []int32 {
	unkPending := false
	for i := 0; i < len(word); i++ {
		if id := t.byteID[word[i]]; id >= 0 {
			if unkPending {
				dst = append(dst, t.unkID)
				unkPending = false
			}
			dst = append(dst, id)
			continue
		}
		if t.byteFallback {
			ch := string(byteChar[word[i]])
			ids, ok := make([]int32, 0, len(ch)), true
			for k := 0; k < len(ch); k++ {
				id, found := t.vocab[fmt.Sprintf("<0x%02X>", ch[k])]
				if !found {
					ok = false
					break
				}
				ids = append(ids, id)
			}
			if ok {
				// HF appends these without flushing a pending unk first.
				dst = append(dst, ids...)
				continue
			}
		}
		if t.unkID >= 0 {
			if unkPending && !t.fuseUnk {
				dst = append(dst, t.unkID)
			}
			unkPending = true
		}
	}
	if unkPending {
		dst = append(dst, t.unkID)
	}
	return dst
}

// mergeHeap merges long words in O(n log n): a min-heap of candidate
// merges keyed by rank then position, with stale entries skipped when
// popped (HF's algorithm). It rewrites syms in place and returns the new
// length.
func mergeHeap(t *Tokenizer, syms []int32) int {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	for i := range n {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
	}
	next[n-1] = -1
	h := make(mergeQueue, 0, n)
	for i := 0; i+1 < n; i++ {
		if m := t.merge(syms[i], syms[i+1]); m != noMerge {
			h.push(m>>32<<32 | uint64(i))
		}
	}
	for len(h) > 0 {
		top := h.pop()
		rank, pos := uint32(top>>32), int32(uint32(top))
		if !alive[pos] || next[pos] < 0 {
			continue
		}
		right := next[pos]
		m := t.merge(syms[pos], syms[right])
		if m == noMerge || uint32(m>>32) != rank {
			continue // stale: one side was merged since
		}
		syms[pos] = int32(uint32(m))
		alive[right] = false
		next[pos] = next[right]
		if next[pos] >= 0 {
			prev[next[pos]] = pos
			if m := t.merge(syms[pos], syms[next[pos]]); m != noMerge {
				h.push(m>>32<<32 | uint64(pos))
			}
		}
		if p := prev[pos]; p >= 0 {
			if m := t.merge(syms[p], syms[pos]); m != noMerge {
				h.push(m>>32<<32 | uint64(p))
			}
		}
	}
	k := 0
	for i := int32(0); i >= 0; i = next[i] {
		syms[k] = syms[i]
		k++
	}
	return k
}

// mergeQueue is a binary min-heap of rank<<32 | position.
type mergeQueue []uint64

func (h *mergeQueue) push(v uint64) {
	*h = append(*h, v)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p] <= q[i] {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

func (h *mergeQueue) pop() uint64 {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, s := 2*i+1, i
		if l < len(q) && q[l] < q[s] {
			s = l
		}
		if r := l + 1; r < len(q) && q[r] < q[s] {
			s = r
		}
		if s == i {
			break
		}
		q[i], q[s] = q[s], q[i]
		i = s
	}
	*h = q
	return top
}

// wordCache maps words to their BPE ids. It is a direct-mapped table of
// atomic pointers: a word goes in the slot its hash selects and replaces
// whatever was there. Reads take no lock (EncodeBatch scales across cores),
// memory is bounded by the slot count, and frequent words, being written
// back whenever they are evicted, stay cached.
type wordCache struct {
	seed  maphash.Seed
	mask  uint64
	slots []atomic.Pointer[cacheEntry]
}

type cacheEntry struct {
	word string
	ids  []int32
}

// newWordCache makes a cache of about size slots (a power of two), or nil.
func newWordCache(size int) *wordCache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n < size {
		n *= 2
	}
	return &wordCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), slots: make([]atomic.Pointer[cacheEntry], n)}
}

func (c *wordCache) slot(word string) *atomic.Pointer[cacheEntry] {
	return &c.slots[maphash.String(c.seed, word)&c.mask]
}

func (c *wordCache) get(word string) ([]int32, bool) {
	if e := c.slot(word).Load(); e != nil && e.word == word {
		return e.ids, true
	}
	return nil, false
}

// put stores a word; the caller gives up word and ids (they must not alias
// the text being encoded or the output).
func (c *wordCache) put(word string, ids []int32) {
	c.slot(word).Store(&cacheEntry{word, ids})
}

// reset empties the cache (benchmarks measure the cold path with it).
func (c *wordCache) reset() {
	for i := range c.slots {
		c.slots[i].Store(nil)
	}
}
