package taskkit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/memscope/memscope/internal/npy"
)

// TokenRows is token-id data, one sequence per row: a 2-D .npy array
// (the memorization papers' format) or JSON lines with a "tokens" array.
type TokenRows struct {
	Source  string
	NPY     bool
	Rows    [][]int32
	Lines   []int        // JSON lines: the 1-based line of each row
	Objects []JSONObject // JSON lines: each row's whole record (for grouping)
}

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// IsNPY reports whether the source (after any gzip/bzip2 layer) is a .npy file.
func IsNPY(src Source) (bool, error) {
	rc, err := src.Open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	head := make([]byte, len(npyMagic))
	n, _ := io.ReadFull(rc, head)
	return string(head[:n]) == npyMagic, nil
}

// LoadTokenRows reads token ids from a .npy file (any little-endian integer
// dtype, 2-D, C order; told apart by its magic bytes) or from JSON lines
// whose "tokens" field is an array of ids. Ids must be non-negative and fit
// int32. Errors name the file and, for JSON lines, the line.
func LoadTokenRows(src Source) (*TokenRows, error) {
	isNPY, err := IsNPY(src)
	if err != nil {
		return nil, err
	}
	if isNPY {
		return loadNPYRows(src)
	}
	if base := strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(src.Name), ".gz"), ".bz2"); strings.HasSuffix(base, ".npy") {
		// Named .npy but not one: read as JSON lines it failed with "not
		// UTF-8 text", which hides what is wrong.
		return nil, fmt.Errorf("%s: not a .npy file: it does not start with numpy's magic bytes \\x93NUMPY (damaged, truncated, or not written by numpy.save)", src.Name)
	}
	t := &TokenRows{Source: src.Name}
	err = src.EachJSONLine(func(line int, obj JSONObject) error {
		raw, ok := obj["tokens"]
		if !ok {
			return fmt.Errorf(`missing field "tokens" (want {"tokens": [ids...], ...})`)
		}
		var ids []*int64 // pointers, so that a null id is not taken for 0
		if err := json.Unmarshal(raw, &ids); err != nil || ids == nil {
			return fmt.Errorf(`field "tokens": want an array of integer token ids, got %s`, abbreviate(raw))
		}
		row := make([]int32, len(ids))
		for j, p := range ids {
			if p == nil {
				return fmt.Errorf(`field "tokens": the id at position %d is null`, j)
			}
			v := *p
			if v < 0 || v > math.MaxInt32 {
				return fmt.Errorf(`field "tokens": token id %d at position %d is not a valid id`, v, j)
			}
			row[j] = int32(v)
		}
		t.Rows = append(t.Rows, row)
		t.Lines = append(t.Lines, line)
		t.Objects = append(t.Objects, obj)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func loadNPYRows(src Source) (*TokenRows, error) {
	rc, err := src.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<16)
	a, err := npy.Read(br, src.Name)
	if err != nil {
		return nil, err
	}
	if n, _ := io.Copy(io.Discard, br); n > 0 {
		return nil, fmt.Errorf("%s: %d unexpected bytes after the array data (corrupt file?)", src.Name, n)
	}
	if !a.IsInt() || a.DType == "|b1" {
		return nil, fmt.Errorf("%s: dtype %s, want integer token ids (uint16, int32 or int64)", src.Name, a.DType)
	}
	rows, err := a.Int32Matrix()
	if err != nil {
		return nil, err
	}
	for r, row := range rows {
		for c, v := range row {
			if v < 0 {
				return nil, fmt.Errorf("%s: token id %d at [%d, %d] is negative", src.Name, v, r, c)
			}
		}
	}
	return &TokenRows{Source: src.Name, NPY: true, Rows: rows}, nil
}

// Where names row i in messages: "FILE:LINE" for JSON lines, "FILE row i"
// for .npy.
func (t *TokenRows) Where(i int) string {
	if t.Lines != nil {
		return fmt.Sprintf("%s:%d", t.Source, t.Lines[i])
	}
	return fmt.Sprintf("%s row %d", t.Source, i)
}
