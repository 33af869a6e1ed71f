// Package npy reads and writes NumPy .npy files (format versions 1.0, 2.0
// and 3.0): little-endian integer, boolean and float arrays of any rank in
// C order — what np.save writes for token-id matrices and score arrays.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/memscope/memscope/internal/atomicfile"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// maxHeaderLen bounds the header dictionary. NumPy itself refuses headers
// over 10000 bytes by default; a few MB leaves room for huge ranks while
// stopping a corrupt length from allocating gigabytes.
const maxHeaderLen = 1 << 20

// dtype describes one supported element type.
type dtype struct {
	kind byte // 'i' signed, 'u' unsigned, 'b' bool, 'f' float
	size int
}

// The supported descrs, normalized to NumPy's spelling ('|' for one byte).
var dtypes = map[string]dtype{
	"|b1": {'b', 1}, "|i1": {'i', 1}, "|u1": {'u', 1},
	"<i2": {'i', 2}, "<u2": {'u', 2},
	"<i4": {'i', 4}, "<u4": {'u', 4},
	"<i8": {'i', 8}, "<u8": {'u', 8},
	"<f2": {'f', 2}, "<f4": {'f', 4}, "<f8": {'f', 8},
}

// normalizeDescr maps equivalent spellings ("<u1", "u1") to the canonical
// descr, and explains unsupported ones.
func normalizeDescr(descr string) (string, dtype, error) {
	d := descr
	if len(d) == 2 {
		d = "<" + d
	}
	if len(d) == 3 && d[2] == '1' && (d[0] == '<' || d[0] == '>' || d[0] == '=') {
		d = "|" + d[1:] // byte order is meaningless for one byte
	}
	if len(d) == 3 && d[0] == '|' && d[2] != '1' {
		d = "<" + d[1:]
	}
	if dt, ok := dtypes[d]; ok {
		return d, dt, nil
	}
	if strings.HasPrefix(descr, ">") {
		return "", dtype{}, fmt.Errorf("dtype %s is big-endian; memscope reads little-endian arrays (save with arr.astype(arr.dtype.newbyteorder('<')))", descr)
	}
	return "", dtype{}, fmt.Errorf("dtype %s is not supported (memscope reads b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8)", descr)
}

// Array is a decoded .npy array. Integer and boolean data is in Ints,
// float data in Floats (exact for f2, f4 and f8); the other slice is nil.
type Array struct {
	Shape  []int
	DType  string // NumPy descr, e.g. "<i4", "|u1", "<f4"
	Ints   []int64
	Floats []float64
	Source string // file name for messages
}

// IsInt reports whether the array holds integers (or booleans).
func (a *Array) IsInt() bool { return a.Floats == nil }

// Len is the number of elements.
func (a *Array) Len() int {
	if a.IsInt() {
		return len(a.Ints)
	}
	return len(a.Floats)
}

// Int32Matrix returns a 2-D integer array as rows; any value outside int32
// is an error naming its position.
func (a *Array) Int32Matrix() ([][]int32, error) {
	if !a.IsInt() {
		return nil, fmt.Errorf("%s: dtype %s, want integer token ids", a.Source, a.DType)
	}
	if len(a.Shape) != 2 {
		return nil, fmt.Errorf("%s: shape %s, want a 2-D array (rows × tokens)", a.Source, shapeString(a.Shape))
	}
	rows, cols := a.Shape[0], a.Shape[1]
	flat := make([]int32, len(a.Ints))
	for i, v := range a.Ints {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("%s: value %d at [%d, %d] does not fit int32", a.Source, v, i/cols, i%cols)
		}
		flat[i] = int32(v)
	}
	out := make([][]int32, rows)
	for r := range out {
		out[r] = flat[r*cols : (r+1)*cols : (r+1)*cols]
	}
	return out, nil
}

// Float32s returns the data of a float array as float32 (rounded to
// nearest for f8).
func (a *Array) Float32s() ([]float32, error) {
	if a.IsInt() {
		return nil, fmt.Errorf("%s: dtype %s, want a float array", a.Source, a.DType)
	}
	out := make([]float32, len(a.Floats))
	for i, v := range a.Floats {
		out[i] = float32(v)
	}
	return out, nil
}

// ReadFile reads a .npy file holding exactly one array.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read npy: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	a, err := Read(br, path)
	if err != nil {
		return nil, err
	}
	if n, _ := io.Copy(io.Discard, br); n > 0 {
		return nil, fmt.Errorf("%s: %d unexpected bytes after the array data (corrupt file?)", path, n)
	}
	return a, nil
}

// Read decodes one array from r, consuming exactly its bytes (np.save can
// write several arrays to one stream). source names the input in errors.
func Read(r io.Reader, source string) (*Array, error) {
	shape, descr, dt, err := readHeader(r, source)
	if err != nil {
		return nil, err
	}
	n := 1
	for _, d := range shape {
		if d != 0 && n > math.MaxInt/d/dt.size {
			return nil, fmt.Errorf("%s: shape %s is too large", source, shapeString(shape))
		}
		n *= d
	}
	need := int64(n) * int64(dt.size)
	// ReadAll on a limited reader grows with the bytes actually present,
	// so a corrupt shape cannot make us allocate before the data is there.
	data, err := io.ReadAll(io.LimitReader(r, need))
	if err != nil {
		return nil, fmt.Errorf("%s: read data: %w", source, err)
	}
	if int64(len(data)) != need {
		return nil, fmt.Errorf("%s: truncated: shape %s of %s needs %d data bytes, file has %d", source, shapeString(shape), descr, need, len(data))
	}
	a := &Array{Shape: shape, DType: descr, Source: source}
	if err := decode(a, dt, data); err != nil {
		return nil, err
	}
	return a, nil
}

func decode(a *Array, dt dtype, b []byte) error {
	n := len(b) / dt.size
	le := binary.LittleEndian
	if dt.kind == 'f' {
		a.Floats = make([]float64, n)
		for i := range a.Floats {
			switch dt.size {
			case 2:
				a.Floats[i] = f16ToF64(le.Uint16(b[2*i:]))
			case 4:
				a.Floats[i] = float64(math.Float32frombits(le.Uint32(b[4*i:])))
			case 8:
				a.Floats[i] = math.Float64frombits(le.Uint64(b[8*i:]))
			}
		}
		return nil
	}
	a.Ints = make([]int64, n)
	for i := range a.Ints {
		var v int64
		switch {
		case dt.size == 1 && dt.kind == 'i':
			v = int64(int8(b[i]))
		case dt.size == 1:
			v = int64(b[i])
		case dt.size == 2 && dt.kind == 'i':
			v = int64(int16(le.Uint16(b[2*i:])))
		case dt.size == 2:
			v = int64(le.Uint16(b[2*i:]))
		case dt.size == 4 && dt.kind == 'i':
			v = int64(int32(le.Uint32(b[4*i:])))
		case dt.size == 4:
			v = int64(le.Uint32(b[4*i:]))
		case dt.kind == 'i':
			v = int64(le.Uint64(b[8*i:]))
		default:
			u := le.Uint64(b[8*i:])
			if u > math.MaxInt64 {
				return fmt.Errorf("%s: value %d at %s does not fit int64", a.Source, u, position(a.Shape, i))
			}
			v = int64(u)
		}
		if dt.kind == 'b' && v > 1 {
			return fmt.Errorf("%s: boolean at %s holds %d, not 0 or 1", a.Source, position(a.Shape, i), v)
		}
		a.Ints[i] = v
	}
	return nil
}

// f16ToF64 decodes an IEEE binary16 value exactly.
func f16ToF64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	case 0:
		return sign * math.Ldexp(mant, -24)
	}
	return sign * math.Ldexp(1+mant/1024, exp-15)
}

// position renders flat index i of shape as "[a, b, c]".
func position(shape []int, i int) string {
	idx := make([]string, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k] = strconv.Itoa(i % shape[k])
			i /= shape[k]
		}
	}
	return "[" + strings.Join(idx, ", ") + "]"
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

var errNotNpy = errors.New("not a .npy file")

func readHeader(r io.Reader, source string) ([]int, string, dtype, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, "", dtype{}, fmt.Errorf("%s: %w: too short for the header", source, errNotNpy)
		}
		return nil, "", dtype{}, fmt.Errorf("%s: %w", source, err)
	}
	if string(pre[:6]) != magic {
		return nil, "", dtype{}, fmt.Errorf("%s: %w (bad magic %q)", source, errNotNpy, pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, "", dtype{}, fmt.Errorf("%s: truncated header", source)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, "", dtype{}, fmt.Errorf("%s: truncated header", source)
		}
		l := binary.LittleEndian.Uint32(b[:])
		if l > maxHeaderLen {
			return nil, "", dtype{}, fmt.Errorf("%s: header length %d is absurd (corrupt file?)", source, l)
		}
		hlen = int(l)
	default:
		return nil, "", dtype{}, fmt.Errorf("%s: .npy format version %d.%d is not supported (memscope reads 1.0, 2.0 and 3.0)", source, major, minor)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, "", dtype{}, fmt.Errorf("%s: truncated header (%d bytes announced)", source, hlen)
	}
	if major < 3 {
		// Versions 1 and 2 are latin-1; every key and value we accept is
		// ASCII, so a non-ASCII byte is simply a parse error below.
		for _, c := range hdr {
			if c >= 0x80 {
				return nil, "", dtype{}, fmt.Errorf("%s: header has non-ASCII bytes (corrupt file?)", source)
			}
		}
	} else if !utf8.Valid(hdr) {
		return nil, "", dtype{}, fmt.Errorf("%s: header is not valid UTF-8", source)
	}
	d, err := parseDict(string(hdr))
	if err != nil {
		return nil, "", dtype{}, fmt.Errorf("%s: corrupt header %q: %v", source, truncate(string(hdr), 120), err)
	}
	for k := range d {
		if k != "descr" && k != "fortran_order" && k != "shape" {
			return nil, "", dtype{}, fmt.Errorf("%s: header has unexpected key %q", source, k)
		}
	}
	descrV, ok1 := d["descr"]
	fortranV, ok2 := d["fortran_order"]
	shapeV, ok3 := d["shape"]
	if !ok1 || !ok2 || !ok3 {
		return nil, "", dtype{}, fmt.Errorf("%s: header must have descr, fortran_order and shape", source)
	}
	if _, isList := descrV.(listValue); isList {
		return nil, "", dtype{}, fmt.Errorf("%s: structured dtypes are not supported; save a plain numeric array", source)
	}
	descr, ok := descrV.(string)
	if !ok {
		return nil, "", dtype{}, fmt.Errorf("%s: descr must be a string", source)
	}
	canon, dt, err := normalizeDescr(descr)
	if err != nil {
		return nil, "", dtype{}, fmt.Errorf("%s: %v", source, err)
	}
	fortran, ok := fortranV.(bool)
	if !ok {
		return nil, "", dtype{}, fmt.Errorf("%s: fortran_order must be True or False", source)
	}
	shape, ok := shapeV.([]int)
	if !ok {
		return nil, "", dtype{}, fmt.Errorf("%s: shape must be a tuple of integers", source)
	}
	if fortran && len(shape) > 1 {
		return nil, "", dtype{}, fmt.Errorf("%s: array is stored in Fortran order; memscope reads C order (save np.ascontiguousarray(arr))", source)
	}
	return shape, canon, dt, nil
}

func truncate(s string, n int) string {
	s = strings.TrimRight(s, " \n")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// listValue marks a Python list in the header (structured dtypes).
type listValue struct{}

// parseDict parses the header's Python dict literal: string keys; values
// are strings, True/False, tuples of non-negative integers, or (only to
// reject them) lists.
func parseDict(s string) (map[string]any, error) {
	p := &parser{s: s}
	p.space()
	if !p.eat('{') {
		return nil, errors.New("want '{'")
	}
	out := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("want ':' after %q", key)
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		out[key] = v
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, errors.New("want ',' or '}'")
		}
		break
	}
	p.space()
	if p.i != len(p.s) {
		return nil, errors.New("text after the dictionary")
	}
	return out, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

func (p *parser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, errors.New("missing value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case c == '[':
		return listValue{}, p.skipList()
	case c == '(':
		p.i++
		return p.tuple()
	}
	return nil, errors.New("unsupported value")
}

// skipList skips a (possibly nested) list with quoted strings in it.
func (p *parser) skipList() error {
	depth := 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\'', '"':
			if _, err := p.str(); err != nil {
				return err
			}
			continue
		case '[', '(':
			depth++
		case ']', ')':
			depth--
		}
		p.i++
		if depth == 0 {
			return nil
		}
	}
	return errors.New("unterminated list")
}

func (p *parser) tuple() ([]int, error) {
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, errors.New("shape must hold non-negative integers")
		}
		v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil || v > math.MaxInt32*int64(1<<20) {
			return nil, fmt.Errorf("dimension %s is too large", p.s[start:p.i])
		}
		p.eat('L') // Python 2 long suffix
		shape = append(shape, int(v))
		if len(shape) > 64 {
			return nil, errors.New("more than 64 dimensions")
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat(')') {
			return nil, errors.New("want ',' or ')' in shape")
		}
		if len(shape) == 1 {
			// "(5)" is not a tuple in Python; NumPy always writes "(5,)".
			return nil, errors.New("1-D shape must be written (n,)")
		}
		return shape, nil
	}
}

// --- writing ---

// header builds a version 1.0 (or 2.0 if needed) header for descr and
// shape, padded so the data starts at a multiple of 64 bytes.
func header(descr string, shape []int) []byte {
	var sh string
	switch len(shape) {
	case 0:
		sh = "()"
	case 1:
		sh = fmt.Sprintf("(%d,)", shape[0])
	default:
		sh = shapeString(shape)
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, sh)
	build := func(lenBytes int, major byte) []byte {
		pre := len(magic) + 2 + lenBytes
		total := pre + len(dict) + 1
		pad := (64 - total%64) % 64
		hlen := len(dict) + pad + 1
		var b bytes.Buffer
		b.WriteString(magic)
		b.WriteByte(major)
		b.WriteByte(0)
		if lenBytes == 2 {
			binary.Write(&b, binary.LittleEndian, uint16(hlen))
		} else {
			binary.Write(&b, binary.LittleEndian, uint32(hlen))
		}
		b.WriteString(dict)
		b.WriteString(strings.Repeat(" ", pad))
		b.WriteByte('\n')
		return b.Bytes()
	}
	if h := build(2, 1); len(h)-10 <= math.MaxUint16 {
		return h
	}
	return build(4, 2)
}

func checkShape(shape []int, n int) error {
	want := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		want *= d
	}
	if want != n {
		return fmt.Errorf("npy: shape %v holds %d values, got %d", shape, want, n)
	}
	return nil
}

// writeData writes the header, then fills and writes the data in chunks.
func writeData(w io.Writer, descr string, shape []int, n, size int, put func(dst []byte, i int)) error {
	if err := checkShape(shape, n); err != nil {
		return err
	}
	if _, err := w.Write(header(descr, shape)); err != nil {
		return err
	}
	const chunk = 1 << 14
	buf := make([]byte, chunk*size)
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		b := buf[:(end-start)*size]
		for i := start; i < end; i++ {
			put(b[(i-start)*size:], i)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// WriteFloat32 writes data as a <f4 array of the given shape.
func WriteFloat32(w io.Writer, shape []int, data []float32) error {
	return writeData(w, "<f4", shape, len(data), 4, func(b []byte, i int) {
		binary.LittleEndian.PutUint32(b, math.Float32bits(data[i]))
	})
}

// WriteFloat64 writes data as a <f8 array.
func WriteFloat64(w io.Writer, shape []int, data []float64) error {
	return writeData(w, "<f8", shape, len(data), 8, func(b []byte, i int) {
		binary.LittleEndian.PutUint64(b, math.Float64bits(data[i]))
	})
}

// WriteInt64 writes data as an <i8 array.
func WriteInt64(w io.Writer, shape []int, data []int64) error {
	return writeData(w, "<i8", shape, len(data), 8, func(b []byte, i int) {
		binary.LittleEndian.PutUint64(b, uint64(data[i]))
	})
}

// WriteInt32 writes data as an <i4 array.
func WriteInt32(w io.Writer, shape []int, data []int32) error {
	return writeData(w, "<i4", shape, len(data), 4, func(b []byte, i int) {
		binary.LittleEndian.PutUint32(b, uint32(data[i]))
	})
}

// Write writes a (e.g. read earlier) in its own dtype; integer values must
// fit the dtype.
func Write(w io.Writer, a *Array) error {
	descr, dt, err := normalizeDescr(a.DType)
	if err != nil {
		return fmt.Errorf("npy: %v", err)
	}
	if dt.kind == 'f' {
		if a.Ints != nil {
			return fmt.Errorf("npy: dtype %s needs Floats", descr)
		}
		return writeData(w, descr, a.Shape, len(a.Floats), dt.size, func(b []byte, i int) {
			switch dt.size {
			case 2:
				binary.LittleEndian.PutUint16(b, f64ToF16(a.Floats[i]))
			case 4:
				binary.LittleEndian.PutUint32(b, math.Float32bits(float32(a.Floats[i])))
			default:
				binary.LittleEndian.PutUint64(b, math.Float64bits(a.Floats[i]))
			}
		})
	}
	if a.Floats != nil {
		return fmt.Errorf("npy: dtype %s needs Ints", descr)
	}
	lo, hi := intRange(dt)
	for i, v := range a.Ints {
		if v < lo || v > hi {
			return fmt.Errorf("npy: value %d at %s does not fit %s", v, position(a.Shape, i), descr)
		}
	}
	return writeData(w, descr, a.Shape, len(a.Ints), dt.size, func(b []byte, i int) {
		v := uint64(a.Ints[i])
		switch dt.size {
		case 1:
			b[0] = byte(v)
		case 2:
			binary.LittleEndian.PutUint16(b, uint16(v))
		case 4:
			binary.LittleEndian.PutUint32(b, uint32(v))
		default:
			binary.LittleEndian.PutUint64(b, v)
		}
	})
}

func intRange(dt dtype) (int64, int64) {
	if dt.kind == 'b' {
		return 0, 1
	}
	bits := uint(8 * dt.size)
	if dt.kind == 'u' {
		if bits == 64 {
			return 0, math.MaxInt64
		}
		return 0, 1<<bits - 1
	}
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

// f64ToF16 rounds to the nearest binary16 (ties to even) through float32;
// double rounding cannot occur for values that came from binary16, which
// is what Write is for.
func f64ToF16(v float64) uint16 {
	f := math.Float32bits(float32(v))
	sign := uint16(f>>16) & 0x8000
	exp := int(f>>23) & 0xff
	mant := f & 0x7fffff
	switch {
	case exp == 0xff:
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127+15 >= 0x1f:
		return sign | 0x7c00
	case exp-127+15 <= 0:
		if exp-127+15 < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - (exp - 127 + 15))
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		if rem := mant & (1<<shift - 1); rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	h := uint32(exp-127+15)<<10 | mant>>13
	if rem := mant & 0x1fff; rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// WriteFile writes a to path atomically: readers never see a half-written
// file.
func WriteFile(path string, a *Array) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		if err := Write(bw, a); err != nil {
			return err
		}
		return bw.Flush()
	})
}
