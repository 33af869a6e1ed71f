// Package safetensors reads the safetensors format
// (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header mapping tensor names to dtype, shape and byte span,
// then the raw little-endian data. Files are memory-mapped read-only, so a
// multi-GB checkpoint costs only the pages actually converted.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
)

// MaxHeaderSize bounds the JSON header, as the reference implementation
// does (100 MB); a larger length means a corrupt or non-safetensors file.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header entry holding string metadata.
const metadataKey = "__metadata__"

// DType is a safetensors dtype name as written in the header ("F32", …).
type DType string

// The dtypes of the format. Only F32, F16 and BF16 convert to float32.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	F4     DType = "F4"
	F6E2M3 DType = "F6_E2M3"
	F6E3M2 DType = "F6_E3M2"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
	C64    DType = "C64"
)

var dtypeBits = map[DType]int64{
	BOOL: 8, U8: 8, I8: 8, F8E5M2: 8, F8E4M3: 8, F8E8M0: 8,
	F4: 4, F6E2M3: 6, F6E3M2: 6,
	I16: 16, U16: 16, F16: 16, BF16: 16,
	I32: 32, U32: 32, F32: 32,
	F64: 64, I64: 64, U64: 64, C64: 64,
}

// Bits is the storage width of one element, 0 for an unknown dtype.
func (d DType) Bits() int { return int(dtypeBits[d]) }

// Known reports whether d is a dtype of the format.
func (d DType) Known() bool { return dtypeBits[d] != 0 }

// Tensor describes one tensor of a file. Begin and End are byte offsets
// into the data area (after the header).
type Tensor struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64
}

// NumElements is the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Header is a parsed and validated safetensors header.
type Header struct {
	Tensors  []Tensor // sorted by name
	Metadata map[string]string
	// DataStart is the file offset of the data area (8 + header length).
	DataStart int64
	byName    map[string]int
}

// Lookup finds a tensor by name.
func (h *Header) Lookup(name string) (Tensor, bool) {
	i, ok := h.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return h.Tensors[i], true
}

// ParseHeader validates a whole safetensors file held in memory (its first
// bytes at least up to the end of the header) whose total size is
// fileSize: header length sane, JSON valid, dtypes known, every shape
// matching its span, spans inside the data area and not overlapping.
// source names the file in errors.
func ParseHeader(prefix []byte, fileSize int64, source string) (*Header, error) {
	if fileSize < 8 || len(prefix) < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, too short for the 8-byte header length", source, fileSize)
	}
	n := binary.LittleEndian.Uint64(prefix[:8])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%s: not a safetensors file or corrupt: header length %d is absurd (limit %d)", source, n, MaxHeaderSize)
	}
	if int64(n) > fileSize-8 {
		return nil, fmt.Errorf("%s: corrupt or truncated safetensors file: header length %d goes past the end of the %d-byte file", source, n, fileSize)
	}
	if int64(len(prefix)) < 8+int64(n) {
		return nil, fmt.Errorf("%s: header needs %d bytes, only %d given", source, 8+n, len(prefix))
	}
	return parseJSON(prefix[8:8+n], fileSize-8-int64(n), 8+int64(n), source)
}

type rawEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

func parseJSON(js []byte, dataSize, dataStart int64, source string) (*Header, error) {
	trimmed := bytes.TrimLeft(js, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%s: corrupt safetensors header: not a JSON object", source)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(js, &entries); err != nil {
		return nil, fmt.Errorf("%s: corrupt safetensors header: invalid JSON: %v", source, err)
	}
	h := &Header{DataStart: dataStart, byName: make(map[string]int, len(entries))}
	for name, raw := range entries {
		if name == metadataKey {
			if err := json.Unmarshal(raw, &h.Metadata); err != nil {
				return nil, fmt.Errorf("%s: corrupt safetensors header: %s must map strings to strings: %v", source, metadataKey, err)
			}
			continue
		}
		t, err := parseEntry(name, raw, dataSize)
		if err != nil {
			return nil, fmt.Errorf("%s: corrupt safetensors header: %w", source, err)
		}
		h.Tensors = append(h.Tensors, t)
	}
	// Overlap check on spans sorted by start; empty tensors occupy nothing.
	spans := make([]Tensor, 0, len(h.Tensors))
	for _, t := range h.Tensors {
		if t.End > t.Begin {
			spans = append(spans, t)
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Begin < spans[j].Begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].Begin < spans[i-1].End {
			return nil, fmt.Errorf("%s: corrupt safetensors header: tensors %q [%d, %d) and %q [%d, %d) overlap",
				source, spans[i-1].Name, spans[i-1].Begin, spans[i-1].End, spans[i].Name, spans[i].Begin, spans[i].End)
		}
	}
	sort.Slice(h.Tensors, func(i, j int) bool { return h.Tensors[i].Name < h.Tensors[j].Name })
	for i, t := range h.Tensors {
		h.byName[t.Name] = i
	}
	return h, nil
}

func parseEntry(name string, raw json.RawMessage, dataSize int64) (Tensor, error) {
	var e rawEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: invalid entry: %v", name, err)
	}
	if e.DType == nil || e.Shape == nil || e.DataOffsets == nil {
		return Tensor{}, fmt.Errorf("tensor %q: entry needs dtype, shape and data_offsets", name)
	}
	dt := DType(*e.DType)
	if !dt.Known() {
		return Tensor{}, fmt.Errorf("tensor %q: unknown dtype %q", name, *e.DType)
	}
	if len(*e.DataOffsets) != 2 {
		return Tensor{}, fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %d numbers", name, len(*e.DataOffsets))
	}
	begin, end := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
	if begin < 0 || end < begin {
		return Tensor{}, fmt.Errorf("tensor %q: invalid data_offsets [%d, %d]", name, begin, end)
	}
	if end > dataSize {
		return Tensor{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] go past the end of the data (%d bytes; file truncated?)", name, begin, end, dataSize)
	}
	shape := make([]int, len(*e.Shape))
	elems := int64(1)
	const limit = math.MaxInt64 / 64
	for i, d := range *e.Shape {
		if d < 0 {
			return Tensor{}, fmt.Errorf("tensor %q: negative dimension in shape %v", name, *e.Shape)
		}
		if d > 0 && elems > limit/d {
			return Tensor{}, fmt.Errorf("tensor %q: shape %v is too large", name, *e.Shape)
		}
		elems *= d
		shape[i] = int(d)
	}
	bits := elems * dtypeBits[dt]
	if bits%8 != 0 {
		return Tensor{}, fmt.Errorf("tensor %q: %d elements of %s do not fill whole bytes", name, elems, dt)
	}
	if bits/8 != end-begin {
		return Tensor{}, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes but data_offsets [%d, %d] span %d",
			name, *e.Shape, dt, bits/8, begin, end, end-begin)
	}
	return Tensor{Name: name, DType: dt, Shape: shape, Begin: begin, End: end}, nil
}

// File is an open safetensors file. Its methods are safe for concurrent
// use; after Close they return an error.
type File struct {
	Path   string
	Header *Header

	mu     sync.RWMutex
	data   []byte // the whole file
	mapped bool   // data is an mmap to release on Close
	closed bool
}

// Open memory-maps path read-only and validates its header.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, too short for the 8-byte header length", path, size)
	}
	data, mapped, err := mapFile(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h, err := ParseHeader(data, size, path)
	if err != nil {
		if mapped {
			_ = unmap(data)
		}
		return nil, err
	}
	return &File{Path: path, Header: h, data: data, mapped: mapped}, nil
}

// FromBytes reads a safetensors file held in memory (e.g. embedded);
// data is used in place and must not change.
func FromBytes(data []byte, source string) (*File, error) {
	h, err := ParseHeader(data, int64(len(data)), source)
	if err != nil {
		return nil, err
	}
	return &File{Path: source, Header: h, data: data}, nil
}

// Close releases the mapping. It waits for conversions in progress.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	var err error
	if f.mapped {
		err = unmap(f.data)
	}
	f.data = nil
	return err
}

// Tensors lists the tensors sorted by name.
func (f *File) Tensors() []Tensor { return f.Header.Tensors }

// Lookup finds a tensor by name.
func (f *File) Lookup(name string) (Tensor, bool) { return f.Header.Lookup(name) }

func (f *File) tensor(name string) (Tensor, error) {
	t, ok := f.Header.Lookup(name)
	if !ok {
		return Tensor{}, fmt.Errorf("%s has no tensor %q", f.Path, name)
	}
	return t, nil
}

// withBytes runs fn on the raw bytes of t while holding the file open.
func (f *File) withBytes(t Tensor, fn func([]byte)) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("%s: file is closed", f.Path)
	}
	off := f.Header.DataStart
	fn(f.data[off+t.Begin : off+t.End])
	return nil
}

// ErrDType is wrapped by errors about a tensor whose dtype cannot be
// converted as asked.
var ErrDType = errors.New("unsupported dtype")

// Float32 converts the named tensor (F32, F16 or BF16) to float32, exactly.
func (f *File) Float32(name string) ([]float32, error) {
	t, err := f.tensor(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.NumElements())
	if err := f.Float32Into(t, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Float32Into converts tensor t of this file into dst, which must hold
// exactly t.NumElements() values.
func (f *File) Float32Into(t Tensor, dst []float32) error {
	if len(dst) != t.NumElements() {
		return fmt.Errorf("tensor %s in %s has %d elements, destination holds %d", t.Name, f.Path, t.NumElements(), len(dst))
	}
	var conv func(dst []float32, src []byte)
	switch t.DType {
	case F32:
		conv = DecodeF32
	case F16:
		conv = DecodeF16
	case BF16:
		conv = DecodeBF16
	default:
		return fmt.Errorf("tensor %s in %s has dtype %s; memscope reads F32, F16 and BF16 weights: %w", t.Name, f.Path, t.DType, ErrDType)
	}
	return f.withBytes(t, func(b []byte) { conv(dst, b) })
}

// Int64 reads an integer tensor (I64, I32, I16, I8, U32, U16, U8, BOOL) as
// int64; U64 values must fit. Reference files store token ids this way.
func (f *File) Int64(name string) ([]int64, error) {
	t, err := f.tensor(name)
	if err != nil {
		return nil, err
	}
	out := make([]int64, t.NumElements())
	var bad error
	err = f.withBytes(t, func(b []byte) {
		switch t.DType {
		case I64:
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
			}
		case U64:
			for i := range out {
				v := binary.LittleEndian.Uint64(b[8*i:])
				if v > math.MaxInt64 {
					bad = fmt.Errorf("tensor %s in %s: element %d = %d does not fit int64", t.Name, f.Path, i, v)
					return
				}
				out[i] = int64(v)
			}
		case I32:
			for i := range out {
				out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
			}
		case U32:
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case I16:
			for i := range out {
				out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
			}
		case U16:
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
			}
		case I8:
			for i := range out {
				out[i] = int64(int8(b[i]))
			}
		case U8, BOOL:
			for i := range out {
				out[i] = int64(b[i])
			}
		default:
			bad = fmt.Errorf("tensor %s in %s has dtype %s, not an integer type: %w", t.Name, f.Path, t.DType, ErrDType)
		}
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	return out, nil
}

// String summarizes a tensor for messages: "name F16 [4 8]".
func (t Tensor) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s %s [%s]", t.Name, t.DType, strings.Join(dims, " "))
}
