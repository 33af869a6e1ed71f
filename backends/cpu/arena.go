package cpu

import "unsafe"

// arenaChunk is the size of one mapping of the weight arena; a tensor
// larger than that gets a mapping of its own.
const arenaChunk = 64 << 20

// weightArena holds a model's weights outside the Go heap. The weights are
// most of a process's memory and live as long as the model; on the Go heap
// they would count toward the garbage collector's pacing (GOGC=100 lets
// the heap grow to twice the live heap before collecting), so the
// activations a forward pass throws away could pile up to the size of the
// model: a Pythia-160M run peaked at 2× its 650 MB of weights. Off the
// heap, the collector paces on the activations alone.
type weightArena struct {
	maps [][]byte // the mappings, released by free
	cur  []byte   // unused tail of the current chunk
	size int64    // bytes handed out
}

// floats returns n zeroed float32s that stay valid until free.
func (a *weightArena) floats(n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	need := 4 * n
	var b []byte
	if need > arenaChunk/4 {
		b = a.mapOrAlloc(need)
	} else {
		if len(a.cur) < need {
			a.cur = a.mapOrAlloc(arenaChunk)
		}
		// keep every tensor 64-byte aligned (cache lines, AVX loads)
		b, a.cur = a.cur[:need:need], a.cur[min(len(a.cur), (need+63)&^63):]
	}
	a.size += int64(need)
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// mapOrAlloc gets n bytes from the operating system (anonymous memory,
// zeroed), or from the Go heap where mapping is not available.
func (a *weightArena) mapOrAlloc(n int) []byte {
	if b, err := mapAnon(n); err == nil {
		a.maps = append(a.maps, b)
		return b
	}
	return make([]byte, n)
}

// free releases every mapping; slices handed out must not be used after.
func (a *weightArena) free() {
	for _, b := range a.maps {
		unmapAnon(b)
	}
	a.maps, a.cur, a.size = nil, nil, 0
}
