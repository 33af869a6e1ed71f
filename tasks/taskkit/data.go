package taskkit

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"
)

// Source is one data file: an embedded default or a file the user named.
type Source struct {
	Name     string // how errors name it: the path, or "embedded:…"
	Embedded bool
	open     func() (io.ReadCloser, error)
}

// FileSource is a file on disk.
func FileSource(path string) Source {
	return Source{Name: path, open: func() (io.ReadCloser, error) { return os.Open(path) }}
}

// EmbeddedSource is a file in an embedded filesystem, named label in errors.
func EmbeddedSource(fsys fs.FS, path, label string) Source {
	return Source{Name: "embedded:" + label, Embedded: true, open: func() (io.ReadCloser, error) { return fsys.Open(path) }}
}

// Open opens the source, transparently decompressing bzip2 and gzip (told
// apart by their magic bytes, so a user may pass the file packed or not).
func (s Source) Open() (io.ReadCloser, error) {
	if s.open == nil {
		return nil, fmt.Errorf("%s: no data source", s.Name)
	}
	f, err := s.open()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: file not found", s.Name)
		}
		return nil, fmt.Errorf("open %s: %w", s.Name, err)
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(3)
	switch {
	case len(magic) == 3 && string(magic[:3]) == "BZh" && isBzip2Level(br):
		return readCloser{bzip2.NewReader(br), f}, nil
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: bad gzip data: %w", s.Name, err)
		}
		return readCloser{zr, f}, nil
	}
	return readCloser{br, f}, nil
}

// isBzip2Level checks the block-size digit after "BZh", so that a text
// file that merely starts with "BZh" is not taken for bzip2.
func isBzip2Level(br *bufio.Reader) bool {
	b, _ := br.Peek(4)
	return len(b) == 4 && b[3] >= '1' && b[3] <= '9'
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// ReadAll returns the whole (decompressed) content of the source.
func (s Source) ReadAll() ([]byte, error) {
	rc, err := s.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(MaxFileBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Name, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: more than %d MiB (decompressed): too large to read whole; split it into several files", s.Name, MaxFileBytes>>20)
	}
	return b, nil
}

// MaxFileBytes bounds a data file read whole (a text document), after
// decompression.
var MaxFileBytes = 1 << 30

// EachLine calls fn with every line of the source (1-based line numbers,
// without the line ending; a final line without a newline counts). An error
// from fn stops the loop and is returned prefixed with "NAME:LINE: ".
func (s Source) EachLine(fn func(line int, text []byte) error) error {
	rc, err := s.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<16)
	for n := 1; ; n++ {
		text, rerr := readLine(br, MaxLineBytes)
		if errors.Is(rerr, errLineTooLong) {
			return fmt.Errorf("%s:%d: a line longer than %d MiB: not a line-based data file (or a damaged one)", s.Name, n, MaxLineBytes>>20)
		}
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("read %s: %w", s.Name, rerr)
		}
		if len(text) == 0 && rerr == io.EOF {
			return nil
		}
		text = bytes.TrimSuffix(text, []byte("\n"))
		text = bytes.TrimSuffix(text, []byte("\r"))
		if n == 1 {
			// Editors on Windows start UTF-8 files with a byte-order mark;
			// it is not part of the first record.
			text = bytes.TrimPrefix(text, []byte(utf8BOM))
		}
		if !utf8.Valid(text) {
			// Python (and so lm-eval) refuses such files; decoding them
			// with U+FFFD would silently change the prompts.
			return fmt.Errorf("%s:%d: not UTF-8 text (invalid byte %d of the line); convert the file to UTF-8", s.Name, n, InvalidUTF8At(text)+1)
		}
		if err := fn(n, text); err != nil {
			return fmt.Errorf("%s:%d: %w", s.Name, n, err)
		}
		if rerr == io.EOF {
			return nil
		}
	}
}

const utf8BOM = "\ufeff"

// MaxLineBytes bounds one line of a data file: far above any real record,
// and what keeps a damaged or hostile file (a gzip or bzip2 bomb of one
// endless line) from filling the memory.
var MaxLineBytes = 64 << 20

var errLineTooLong = errors.New("line too long")

// readLine is bufio.Reader.ReadBytes('\n') that gives up past max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

// InvalidUTF8At is the byte offset of the first invalid UTF-8 sequence.
func InvalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// JSONObject is one parsed JSON-lines record.
type JSONObject map[string]json.RawMessage

// EachJSONLine parses every non-blank line of the source as a JSON object.
// Errors name the file and line.
func (s Source) EachJSONLine(fn func(line int, obj JSONObject) error) error {
	return s.EachLine(func(line int, text []byte) error {
		if len(bytes.TrimSpace(text)) == 0 {
			return nil
		}
		var obj JSONObject
		if err := json.Unmarshal(text, &obj); err != nil {
			return fmt.Errorf("bad JSON line (want one JSON object per line): %v", err)
		}
		if obj == nil {
			return errors.New("bad JSON line: want a JSON object, got null")
		}
		return fn(line, obj)
	})
}

// String returns a required string field.
func (o JSONObject) String(key string) (string, error) {
	raw, ok := o[key]
	if !ok {
		return "", fmt.Errorf("missing field %q", key)
	}
	var s *string // a pointer, so that null is told apart from ""
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return "", fmt.Errorf("field %q: want a string, got %s", key, abbreviate(raw))
	}
	return *s, nil
}

// Strings returns a required array-of-strings field.
func (o JSONObject) Strings(key string) ([]string, error) {
	raw, ok := o[key]
	if !ok {
		return nil, fmt.Errorf("missing field %q", key)
	}
	var ps []*string // pointers, so that a null element is not taken for ""
	if err := json.Unmarshal(raw, &ps); err != nil || ps == nil {
		return nil, fmt.Errorf("field %q: want an array of strings, got %s", key, abbreviate(raw))
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		if p == nil {
			return nil, fmt.Errorf("field %q: element %d is null, want a string", key, i)
		}
		s[i] = *p
	}
	return s, nil
}

// Int returns a required integer field.
func (o JSONObject) Int(key string) (int, error) {
	raw, ok := o[key]
	if !ok {
		return 0, fmt.Errorf("missing field %q", key)
	}
	var n *int // a pointer, so that null is not taken for 0
	if err := json.Unmarshal(raw, &n); err != nil || n == nil {
		return 0, fmt.Errorf("field %q: want an integer, got %s", key, abbreviate(raw))
	}
	return *n, nil
}

// Label renders a field's value for grouping: strings as they are, other
// JSON values (numbers, booleans, null) in their JSON spelling.
func (o JSONObject) Label(key string) (string, error) {
	raw, ok := o[key]
	if !ok {
		return "", fmt.Errorf("missing field %q", key)
	}
	var s *string // null is not a string: it groups as "null"
	if json.Unmarshal(raw, &s) == nil && s != nil {
		return *s, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("field %q: %v", key, err)
	}
	switch v.(type) {
	case map[string]any, []any:
		return "", fmt.Errorf("field %q: want a string, number or boolean to group by, got %s", key, abbreviate(raw))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", fmt.Errorf("field %q: %v", key, err)
	}
	return buf.String(), nil
}

func abbreviate(raw []byte) string {
	s := []rune(string(bytes.TrimSpace(raw)))
	if len(s) > 40 {
		return string(s[:37]) + "..."
	}
	return string(s)
}
