package results

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/memscope/memscope/internal/atomicfile"
)

// Export formats.
const (
	FormatJSONL   = "jsonl"
	FormatCSV     = "csv"
	FormatParquet = "parquet"
)

// ExportFormats lists the formats Export writes.
var ExportFormats = []string{FormatJSONL, FormatCSV, FormatParquet}

// Export writes one table of the run in dir to out, streaming it record by
// record, so tables larger than memory export fine.
//
//   - jsonl: one JSON object per row, keys in column order; null for nulls
//     and NaN, the strings "Infinity" / "-Infinity" for infinities, lists as
//     arrays.
//   - csv: a header row of column names; empty fields for nulls and NaN,
//     "inf" / "-inf" for infinities, lists as JSON arrays.
//   - parquet: zstd-compressed, dictionary-encoded where the table is, with
//     the Arrow schema and the run's memscope.* metadata stored.
func Export(out io.Writer, dir, table, format string, opts ...Option) error {
	o := makeOptions(opts)
	if _, ok := TableFile(table); !ok {
		return fmt.Errorf("unknown table %q (choose %s)", table, strings.Join(Tables, ", "))
	}
	switch format {
	case FormatJSONL, FormatCSV, FormatParquet:
	default:
		return fmt.Errorf("unknown export format %q (choose %s)", format, strings.Join(ExportFormats, ", "))
	}
	t, err := openTable(dir, table, o)
	if err != nil {
		return err
	}
	defer t.Close()
	schema := t.r.Schema()
	switch format {
	case FormatJSONL:
		return exportJSONL(out, schema, t)
	case FormatCSV:
		return exportCSV(out, schema, t)
	default:
		return exportParquet(out, schema, t, o)
	}
}

// ExportFile is Export into the file at path, written atomically: the file
// appears complete or not at all.
func ExportFile(path, dir, table, format string, opts ...Option) error {
	// Open the table first, so a bad run directory leaves no empty file.
	if _, err := ReadInfo(dir); err != nil {
		return err
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := Export(bw, dir, table, format, opts...); err != nil {
			return err
		}
		return bw.Flush()
	})
}

func exportJSONL(out io.Writer, schema *arrow.Schema, t *tableFile) error {
	bw := bufio.NewWriterSize(out, 1<<16)
	keys := make([][]byte, schema.NumFields())
	for i, f := range schema.Fields() {
		keys[i] = appendJSONString(nil, f.Name)
	}
	var line []byte
	err := t.each(func(rec arrow.Record) error {
		cols, err := valueWriters(rec)
		if err != nil {
			return err
		}
		for r := range int(rec.NumRows()) {
			line = append(line[:0], '{')
			for c, col := range cols {
				if c > 0 {
					line = append(line, ',')
				}
				line = append(line, keys[c]...)
				line = append(line, ':')
				line = col.json(line, r)
			}
			line = append(line, '}', '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func exportCSV(out io.Writer, schema *arrow.Schema, t *tableFile) error {
	cw := csv.NewWriter(out)
	header := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		header[i] = f.Name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	row := make([]string, len(header))
	err := t.each(func(rec arrow.Record) error {
		cols, err := valueWriters(rec)
		if err != nil {
			return err
		}
		for r := range int(rec.NumRows()) {
			for c, col := range cols {
				row[c] = col.csv(r)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func exportParquet(out io.Writer, schema *arrow.Schema, t *tableFile, o options) error {
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(o.mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(1<<20),
		parquet.WithCreatedBy("memscope"),
	)
	fw, err := pqarrow.NewFileWriter(schema, out, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(o.mem)))
	if err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	if err := t.each(fw.WriteBuffered); err != nil {
		fw.Close()
		return fmt.Errorf("parquet: %w", err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

// valueWriter renders one column's values as JSON or CSV text.
type valueWriter struct {
	json func(dst []byte, i int) []byte
	csv  func(i int) string
}

func valueWriters(rec arrow.Record) ([]valueWriter, error) {
	out := make([]valueWriter, rec.NumCols())
	for c := range out {
		w, err := newValueWriter(rec.Column(c))
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", rec.ColumnName(c), err)
		}
		out[c] = w
	}
	return out, nil
}

func newValueWriter(a arrow.Array) (valueWriter, error) {
	null := func(dst []byte) []byte { return append(dst, "null"...) }
	switch a := a.(type) {
	case *array.Dictionary, *array.String, *array.LargeString:
		get, err := stringGetter(a)
		if err != nil {
			return valueWriter{}, err
		}
		return valueWriter{
			json: func(dst []byte, i int) []byte {
				if a.IsNull(i) {
					return null(dst)
				}
				return appendJSONString(dst, get(i))
			},
			csv: func(i int) string { return get(i) },
		}, nil
	case *array.Int64:
		return valueWriter{
			json: func(dst []byte, i int) []byte {
				if a.IsNull(i) {
					return null(dst)
				}
				return strconv.AppendInt(dst, a.Value(i), 10)
			},
			csv: func(i int) string {
				if a.IsNull(i) {
					return ""
				}
				return strconv.FormatInt(a.Value(i), 10)
			},
		}, nil
	case *array.Int32:
		return valueWriter{
			json: func(dst []byte, i int) []byte {
				if a.IsNull(i) {
					return null(dst)
				}
				return strconv.AppendInt(dst, int64(a.Value(i)), 10)
			},
			csv: func(i int) string {
				if a.IsNull(i) {
					return ""
				}
				return strconv.FormatInt(int64(a.Value(i)), 10)
			},
		}, nil
	case *array.Float64:
		return valueWriter{
			json: func(dst []byte, i int) []byte {
				if a.IsNull(i) {
					return null(dst)
				}
				return appendJSONFloat(dst, a.Value(i))
			},
			csv: func(i int) string {
				if a.IsNull(i) {
					return ""
				}
				return csvFloat(a.Value(i))
			},
		}, nil
	case *array.Boolean:
		return valueWriter{
			json: func(dst []byte, i int) []byte {
				if a.IsNull(i) {
					return null(dst)
				}
				return strconv.AppendBool(dst, a.Value(i))
			},
			csv: func(i int) string {
				if a.IsNull(i) {
					return ""
				}
				return strconv.FormatBool(a.Value(i))
			},
		}, nil
	case *array.List:
		// Lists of numbers (choice log-likelihoods, blocks, token ids) are
		// JSON arrays in both formats.
		elem, err := newValueWriter(a.ListValues())
		if err != nil {
			return valueWriter{}, fmt.Errorf("list values: %w", err)
		}
		list := func(dst []byte, i int) []byte {
			start, end := a.ValueOffsets(i)
			dst = append(dst, '[')
			for k := start; k < end; k++ {
				if k > start {
					dst = append(dst, ',')
				}
				dst = elem.json(dst, int(k))
			}
			return append(dst, ']')
		}
		return valueWriter{
			json: func(dst []byte, i int) []byte {
				if a.IsNull(i) {
					return null(dst)
				}
				return list(dst, i)
			},
			csv: func(i int) string {
				if a.IsNull(i) {
					return ""
				}
				return string(list(nil, i))
			},
		}, nil
	}
	return valueWriter{}, fmt.Errorf("cannot export values of type %s", a.DataType())
}

func appendJSONFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "null"...)
	case math.IsInf(v, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

func csvFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return ""
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// appendJSONString quotes s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	if isPlainJSON(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// isPlainJSON reports whether s needs no escaping in a JSON string.
func isPlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
