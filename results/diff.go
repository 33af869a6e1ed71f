package results

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Diff compares the tables of two run directories row for row and column
// by column, whatever tables (a table neither run has is skipped) and
// columns they have, every column but run_id: values
// exactly (NaN equals NaN), nulls as nulls, in the same order. It returns
// up to max differences (0: 20), each naming the table, row and column;
// none means the runs measured the same thing the same way. Provenance
// (run ids, times, machines) is not compared.
func Diff(a, b string, max int) ([]string, error) {
	if max <= 0 {
		max = 20
	}
	var out []string
	for _, table := range Tables {
		file, _ := TableFile(table)
		inA, inB := fileExists(filepath.Join(a, file)), fileExists(filepath.Join(b, file))
		switch {
		case !inA && !inB && table != TableMetrics:
			continue // a table that neither run has (comparisons.arrow is written on demand)
		case inA != inB && table != TableMetrics:
			which := map[bool]string{true: "first", false: "second"}[inA]
			out = append(out, fmt.Sprintf("%s: only the %s run has it", file, which))
			continue
		}
		ta, err := readColumns(a, table)
		if err != nil {
			return nil, err
		}
		tb, err := readColumns(b, table)
		if err != nil {
			return nil, err
		}
		out = append(out, diffTables(file, ta, tb, max-len(out))...)
		if len(out) >= max {
			return out[:max], nil
		}
	}
	return out, nil
}

// columns is a table read into one canonical string per cell (the null
// marker for nulls), column by column.
type columns struct {
	names []string
	types map[string]string
	cells map[string][]string
	rows  int
}

const nullCell = "\x00null"

func readColumns(dir, table string) (*columns, error) {
	t, err := openTable(dir, table, makeOptions(nil))
	if err != nil {
		return nil, err
	}
	defer t.Close()
	c := &columns{types: map[string]string{}, cells: map[string][]string{}}
	for _, f := range t.r.Schema().Fields() {
		if f.Name == ColRunID {
			continue
		}
		c.names = append(c.names, f.Name)
		c.types[f.Name] = f.Type.String()
	}
	err = t.each(func(rec arrow.Record) error {
		for i, f := range rec.Schema().Fields() {
			if f.Name == ColRunID {
				continue
			}
			col := rec.Column(i)
			for r := range col.Len() {
				c.cells[f.Name] = append(c.cells[f.Name], cellString(col, r))
			}
		}
		c.rows += int(rec.NumRows())
		return nil
	})
	if err != nil {
		file, _ := TableFile(table)
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
	}
	return c, nil
}

func diffTables(file string, a, b *columns, max int) []string {
	var out []string
	for _, n := range a.names {
		if _, ok := b.types[n]; !ok {
			out = append(out, fmt.Sprintf("%s: column %s only in the first run", file, n))
		} else if a.types[n] != b.types[n] {
			out = append(out, fmt.Sprintf("%s: column %s is %s in the first run, %s in the second", file, n, a.types[n], b.types[n]))
		}
	}
	for _, n := range b.names {
		if _, ok := a.types[n]; !ok {
			out = append(out, fmt.Sprintf("%s: column %s only in the second run", file, n))
		}
	}
	if a.rows != b.rows {
		out = append(out, fmt.Sprintf("%s: %d rows in the first run, %d in the second", file, a.rows, b.rows))
	}
	if len(out) > 0 {
		return out
	}
	for r := range a.rows {
		for _, n := range a.names {
			if va, vb := a.cells[n][r], b.cells[n][r]; va != vb {
				out = append(out, fmt.Sprintf("%s row %d (%s), column %s: %s vs %s", file, r, rowLabel(a, r), n, show(va), show(vb)))
				if len(out) >= max {
					return out
				}
			}
		}
	}
	return out
}

// rowLabel names a row by its cell and document where the table has them.
func rowLabel(c *columns, r int) string {
	var parts []string
	for _, n := range []string{ColModel, ColIntervention, ColTask, ColMetric, ColDocIndex, ColRequestIndex} {
		if v, ok := c.cells[n]; ok && v[r] != nullCell {
			parts = append(parts, n+" "+v[r])
		}
	}
	return strings.Join(parts, ", ")
}

func show(v string) string {
	if v == nullCell {
		return "null"
	}
	if len(v) > 80 {
		return strconv.Quote(v[:77] + "...")
	}
	return strconv.Quote(v)
}

// cellString renders one value exactly: floats in full precision,
// dictionary values as their value, lists element by element.
func cellString(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return nullCell
	}
	switch a := arr.(type) {
	case *array.Dictionary:
		return cellString(a.Dictionary(), a.GetValueIndex(i))
	case *array.Float64:
		return floatString(a.Value(i), 64)
	case *array.Float32:
		return floatString(float64(a.Value(i)), 32)
	case array.ListLike:
		lo, hi := a.ValueOffsets(i)
		vals := a.ListValues()
		parts := make([]string, 0, hi-lo)
		for j := lo; j < hi; j++ {
			parts = append(parts, cellString(vals, int(j)))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *array.String:
		return strconv.Quote(a.Value(i))
	case *array.LargeString:
		return strconv.Quote(a.Value(i))
	}
	return arr.ValueStr(i)
}

func floatString(v float64, bits int) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, bits)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
