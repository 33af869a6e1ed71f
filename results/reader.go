package results

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// NoResultsError says a directory holds no memscope tables.
type NoResultsError struct{ Dir string }

func (e *NoResultsError) Error() string {
	return fmt.Sprintf("no memscope results in %s (expected %s; run memscope run --out %s first)", e.Dir, MetricsFile, e.Dir)
}

// FindRuns returns the run directories (those holding metrics.arrow) at or
// below each path, sorted. A path that is itself a run directory is not
// searched further. A path with no run anywhere below it is an error.
func FindRuns(paths ...string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &NoResultsError{Dir: p}
			}
			return nil, err
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s is not a directory (give a run directory or a folder of run directories)", p)
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			if _, err := os.Stat(filepath.Join(path, MetricsFile)); err == nil {
				found = append(found, path)
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", p, err)
		}
		if len(found) == 0 {
			return nil, &NoResultsError{Dir: p}
		}
		for _, f := range found {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// tableFile is an open table.
type tableFile struct {
	f       *os.File
	r       *ipc.FileReader
	info    RunInfo
	version int // its FormatVersion
}

func (t *tableFile) Close() {
	t.r.Close()
	t.f.Close()
}

// openTable opens one table of a run directory and checks its metadata.
func openTable(dir, table string, o options) (*tableFile, error) {
	file, ok := TableFile(table)
	if !ok {
		return nil, fmt.Errorf("unknown table %q (choose %s)", table, strings.Join(Tables, ", "))
	}
	path := filepath.Join(dir, file)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if table == TableMetrics {
				return nil, &NoResultsError{Dir: dir}
			}
			return nil, fmt.Errorf("%s is missing: the run in %s is incomplete", path, dir)
		}
		return nil, err
	}
	// Always Go's garbage-collected allocator: arrow v17's ipc.FileReader
	// never releases the dictionaries (and dictionary messages) it reads,
	// which would leak from a reference-counting allocator. Records are
	// only borrowed from the reader, so o.mem would buy nothing here.
	r, err := newFileReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w (not an Arrow IPC file, or damaged)", path, err)
	}
	info, got, version, err := parseRunMetadata(r.Schema().Metadata())
	if err != nil {
		r.Close()
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if got != table {
		r.Close()
		f.Close()
		return nil, fmt.Errorf("read %s: it holds table %q, not %q", path, got, table)
	}
	return &tableFile{f: f, r: r, info: info, version: version}, nil
}

// newFileReader is ipc.NewFileReader, with a panic (arrow's reader
// indexes a damaged file's metadata without checks) turned into an error.
func newFileReader(f *os.File) (r *ipc.FileReader, err error) {
	defer recoverDamage(&err)
	return ipc.NewFileReader(f, ipc.WithAllocator(gcAlloc))
}

// recoverDamage turns a panic while decoding a file into an error: the
// file is damaged (or not what it claims), which is no reason to crash.
func recoverDamage(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("damaged Arrow data (%v)", p)
	}
}

// each calls fn for every record of the table, in order. A panic while
// decoding a record (damaged data) is an error.
func (t *tableFile) each(fn func(rec arrow.Record) error) (err error) {
	defer recoverDamage(&err)
	for i := range t.r.NumRecords() {
		rec, err := t.r.Record(i)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// ReadInfo reads the run's provenance from DIR/metrics.arrow.
func ReadInfo(dir string, opts ...Option) (RunInfo, error) {
	t, err := openTable(dir, TableMetrics, makeOptions(opts))
	if err != nil {
		return RunInfo{}, err
	}
	defer t.Close()
	return t.info, nil
}

// ReadMetrics reads only the metrics table of a run (what the leaderboard
// and the figures need).
func ReadMetrics(dir string, opts ...Option) (*Run, error) {
	o := makeOptions(opts)
	run := &Run{Dir: dir}
	t, err := openTable(dir, TableMetrics, o)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	run.Info = t.info
	if err := t.each(func(rec arrow.Record) error { return readMetrics(rec, &run.Metrics) }); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, MetricsFile), err)
	}
	return run, nil
}

// Read reads all three tables of a run directory.
func Read(dir string, opts ...Option) (*Run, error) {
	o := makeOptions(opts)
	run, err := ReadMetrics(dir, opts...)
	if err != nil {
		return nil, err
	}
	for _, table := range []string{TableDocs, TableRequests} {
		t, err := openTable(dir, table, o)
		if err != nil {
			return nil, err
		}
		if t.info.RunID != run.Info.RunID {
			t.Close()
			return nil, fmt.Errorf("the tables in %s come from different runs (%s has run %s, %s has run %s): a run was interrupted while its tables were put in place; rerun it",
				dir, MetricsFile, run.Info.RunID, table, t.info.RunID)
		}
		err = t.each(func(rec arrow.Record) error {
			if table == TableDocs {
				return readDocs(rec, &run.Docs)
			}
			return readRequests(rec, t.version, &run.Requests)
		})
		t.Close()
		if err != nil {
			file, _ := TableFile(table)
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, file), err)
		}
	}
	return run, nil
}

// interventionFromColumns rebuilds an intervention from its spec and kind.
func interventionFromColumns(spec, kind string) (intervention.Intervention, error) {
	s, err := intervention.Parse(spec)
	if err != nil {
		return intervention.Intervention{}, err
	}
	if s.All || s.Each {
		return intervention.Intervention{}, fmt.Errorf("intervention %q is not a concrete set of blocks", spec)
	}
	iv := intervention.New(s.Kind, s.Blocks...)
	if kind != "" && string(iv.Kind) != kind {
		return intervention.Intervention{}, fmt.Errorf("intervention %q does not have kind %q", spec, kind)
	}
	return iv, nil
}

// column access helpers -------------------------------------------------

type colIndex map[string]int

func indexColumns(s *arrow.Schema) colIndex {
	m := colIndex{}
	for i, f := range s.Fields() {
		m[f.Name] = i
	}
	return m
}

func (c colIndex) get(rec arrow.Record, name string) (arrow.Array, error) {
	i, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("column %q is missing", name)
	}
	return rec.Column(i), nil
}

// stringGetter reads a string column, dictionary-encoded or plain.
func stringGetter(a arrow.Array) (func(i int) string, error) {
	switch a := a.(type) {
	case *array.Dictionary:
		d, ok := a.Dictionary().(*array.String)
		if !ok {
			return nil, fmt.Errorf("dictionary column holds %s, not strings", a.Dictionary().DataType())
		}
		return func(i int) string {
			if a.IsNull(i) {
				return ""
			}
			return d.Value(a.GetValueIndex(i))
		}, nil
	case *array.String:
		return func(i int) string { return a.Value(i) }, nil
	case *array.LargeString:
		return func(i int) string { return a.Value(i) }, nil
	}
	return nil, fmt.Errorf("column holds %s, not strings", a.DataType())
}

func (c colIndex) strings(rec arrow.Record, name string) (func(int) string, error) {
	a, err := c.get(rec, name)
	if err != nil {
		return nil, err
	}
	g, err := stringGetter(a)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", name, err)
	}
	return g, nil
}

// typedColumn returns the named column of rec as the array type T.
func typedColumn[T arrow.Array](c colIndex, rec arrow.Record, name, want string) (T, error) {
	var zero T
	a, err := c.get(rec, name)
	if err != nil {
		return zero, err
	}
	v, ok := a.(T)
	if !ok {
		return zero, fmt.Errorf("column %q holds %s, not %s", name, a.DataType(), want)
	}
	return v, nil
}

func (c colIndex) int64s(rec arrow.Record, name string) (*array.Int64, error) {
	return typedColumn[*array.Int64](c, rec, name, "int64")
}

func (c colIndex) float64s(rec arrow.Record, name string) (*array.Float64, error) {
	return typedColumn[*array.Float64](c, rec, name, "float64")
}

func (c colIndex) bools(rec arrow.Record, name string) (*array.Boolean, error) {
	return typedColumn[*array.Boolean](c, rec, name, "bool")
}

// cellReader rebuilds the Cell of each row of a record. Rows of a batch
// mostly share one cell, so the last cell is reused while the rows'
// dictionary codes stay the same.
type cellReader struct {
	codes []func(int) int // per cell column: the row's dictionary code (nil: not dictionary-encoded)
	vals  []func(int) string
	key   []int
	skey  []string
	have  bool
	last  Cell
}

func newCellReader(rec arrow.Record, c colIndex) (*cellReader, error) {
	cr := &cellReader{key: make([]int, len(cellStringColumns)), skey: make([]string, len(cellStringColumns))}
	for _, name := range cellStringColumns {
		g, err := c.strings(rec, name)
		if err != nil {
			return nil, err
		}
		cr.vals = append(cr.vals, g)
		a, _ := c.get(rec, name)
		if d, ok := a.(*array.Dictionary); ok {
			cr.codes = append(cr.codes, func(i int) int {
				if d.IsNull(i) {
					return -1
				}
				return d.GetValueIndex(i)
			})
		} else {
			cr.codes = append(cr.codes, nil)
		}
	}
	return cr, nil
}

func (cr *cellReader) cell(i int) (Cell, error) {
	same := cr.have
	for k := range cr.vals {
		if g := cr.codes[k]; g != nil {
			code := g(i)
			if code != cr.key[k] {
				same = false
				cr.key[k] = code
			}
			continue
		}
		v := cr.vals[k](i)
		if v != cr.skey[k] {
			same = false
			cr.skey[k] = v
		}
	}
	if same {
		return cr.last, nil
	}
	v := make([]string, len(cr.vals))
	for k, g := range cr.vals {
		v[k] = g(i)
	}
	// v follows cellStringColumns: run_id model model_hash backend dtype
	// intervention intervention_kind task task_version task_category. The
	// blocks column (a string in version 1, list<int32> since 2) repeats
	// what the intervention spec says and is not read.
	iv, err := interventionFromColumns(v[5], v[6])
	if err != nil {
		cr.have = false
		return Cell{}, fmt.Errorf("row %d: %w", i, err)
	}
	cr.last = Cell{
		Model: v[1], ModelHash: v[2], Backend: v[3], DType: v[4],
		Intervention: iv,
		Task:         v[7], TaskVersion: v[8], TaskCategory: v[9],
	}
	cr.have = true
	return cr.last, nil
}

func readMetrics(rec arrow.Record, out *[]MetricRow) error {
	c := indexColumns(rec.Schema())
	cells, err := newCellReader(rec, c)
	if err != nil {
		return err
	}
	metric, err := c.strings(rec, ColMetric)
	if err != nil {
		return err
	}
	value, err := c.float64s(rec, ColValue)
	if err != nil {
		return err
	}
	stderr, err := c.float64s(rec, ColStderr)
	if err != nil {
		return err
	}
	n, err := c.int64s(rec, ColN)
	if err != nil {
		return err
	}
	hib, err := c.bools(rec, ColHigherIsBetter)
	if err != nil {
		return err
	}
	for i := range int(rec.NumRows()) {
		cell, err := cells.cell(i)
		if err != nil {
			return err
		}
		*out = append(*out, MetricRow{
			Cell: cell, Metric: metric(i), Value: value.Value(i),
			Stderr: nullableFloat(stderr, i), N: int(n.Value(i)), HigherIsBetter: hib.Value(i),
		})
	}
	return nil
}

func nullableFloat(a *array.Float64, i int) float64 {
	if a.IsNull(i) {
		return math.NaN()
	}
	return a.Value(i)
}

func nullableIndex(a *array.Int64, i int) int {
	if a.IsNull(i) {
		return -1
	}
	return int(a.Value(i))
}

func readDocs(rec arrow.Record, out *[]DocRow) error {
	c := indexColumns(rec.Schema())
	cells, err := newCellReader(rec, c)
	if err != nil {
		return err
	}
	docIdx, err := c.int64s(rec, ColDocIndex)
	if err != nil {
		return err
	}
	gold, err := c.int64s(rec, ColGold)
	if err != nil {
		return err
	}
	pred, err := c.int64s(rec, ColPrediction)
	if err != nil {
		return err
	}
	llCol, err := c.get(rec, ColChoiceLogLikelihoods)
	if err != nil {
		return err
	}
	lls, ok := llCol.(*array.List)
	if !ok {
		return fmt.Errorf("column %q holds %s, not list<float64>", ColChoiceLogLikelihoods, llCol.DataType())
	}
	llVals, ok := lls.ListValues().(*array.Float64)
	if !ok {
		return fmt.Errorf("column %q holds %s, not list<float64>", ColChoiceLogLikelihoods, llCol.DataType())
	}
	reserved := reservedDocColumns()
	type metricCol struct {
		name string
		a    *array.Float64
	}
	var metrics []metricCol
	for i, f := range rec.Schema().Fields() {
		if reserved[f.Name] {
			continue
		}
		a, ok := rec.Column(i).(*array.Float64)
		if !ok {
			return fmt.Errorf("per-doc metric column %q holds %s, not float64", f.Name, f.Type)
		}
		metrics = append(metrics, metricCol{f.Name, a})
	}
	for i := range int(rec.NumRows()) {
		cell, err := cells.cell(i)
		if err != nil {
			return err
		}
		d := DocRow{Cell: cell, DocIndex: int(docIdx.Value(i)), Gold: nullableIndex(gold, i), Prediction: nullableIndex(pred, i)}
		if lls.IsValid(i) {
			start, end := lls.ValueOffsets(i)
			d.ChoiceLogLikelihoods = make([]float64, end-start)
			for k := start; k < end; k++ {
				d.ChoiceLogLikelihoods[k-start] = llVals.Value(int(k))
			}
		}
		d.Metrics = map[string]float64{}
		for _, m := range metrics {
			if m.a.IsValid(i) {
				d.Metrics[m.name] = m.a.Value(i)
			}
		}
		*out = append(*out, d)
	}
	return nil
}

// nullableString reads a string column whose nulls read as "".
func (c colIndex) nullableStrings(rec arrow.Record, name string) (func(int) string, error) {
	return c.strings(rec, name) // stringGetter maps a null to ""
}

// idLists reads a list<int32> column: nil for a null row. A missing column
// (tables of format version 1) reads as all null.
func (c colIndex) idLists(rec arrow.Record, name string) (func(int) []int32, error) {
	a, err := c.get(rec, name)
	if err != nil {
		return func(int) []int32 { return nil }, nil
	}
	l, ok := a.(*array.List)
	var vals *array.Int32
	if ok {
		vals, ok = l.ListValues().(*array.Int32)
	}
	if !ok {
		return nil, fmt.Errorf("column %q holds %s, not list<int32>", name, a.DataType())
	}
	return func(i int) []int32 {
		if l.IsNull(i) {
			return nil
		}
		start, end := l.ValueOffsets(i)
		out := make([]int32, end-start)
		for k := start; k < end; k++ {
			out[k-start] = vals.Value(int(k))
		}
		return out
	}, nil
}

func readRequests(rec arrow.Record, version int, out *[]RequestRow) error {
	c := indexColumns(rec.Schema())
	cells, err := newCellReader(rec, c)
	if err != nil {
		return err
	}
	var ints [4]*array.Int64
	for k, name := range []string{ColDocIndex, ColRequestIndex, ColContextTokens, ColContinuationTokens} {
		if ints[k], err = c.int64s(rec, name); err != nil {
			return err
		}
	}
	var strs [3]func(int) string
	for k, name := range []string{ColRequestType, ColContext, ColContinuation} {
		if strs[k], err = c.nullableStrings(rec, name); err != nil {
			return err
		}
	}
	var input, generated func(int) []int32
	if version >= 2 {
		if input, err = c.idLists(rec, ColInputIDs); err != nil {
			return err
		}
		if generated, err = c.idLists(rec, ColGeneratedIDs); err != nil {
			return err
		}
	} else {
		input = func(int) []int32 { return nil }
		generated = input
	}
	ll, err := c.float64s(rec, ColLogLikelihood)
	if err != nil {
		return err
	}
	greedy, err := c.bools(rec, ColIsGreedy)
	if err != nil {
		return err
	}
	for i := range int(rec.NumRows()) {
		cell, err := cells.cell(i)
		if err != nil {
			return err
		}
		*out = append(*out, RequestRow{
			Cell: cell, DocIndex: int(ints[0].Value(i)), RequestIndex: int(ints[1].Value(i)),
			RequestType: plugins.RequestKind(strs[0](i)), Context: strs[1](i), Continuation: strs[2](i), InputIDs: input(i),
			LogLikelihood: nullableFloat(ll, i), IsGreedy: greedy.Value(i),
			ContextTokens: int(ints[2].Value(i)), ContinuationTokens: int(ints[3].Value(i)),
			GeneratedIDs: generated(i),
		})
	}
	return nil
}

// CheckTables opens every table of a run directory and checks that each
// is a whole Arrow file (a truncated or damaged one has lost its footer)
// of the same run as metrics.arrow. It reads no rows, so it is quick on
// any run. The error lists every table that fails.
func CheckTables(dir string, opts ...Option) error {
	o := makeOptions(opts)
	info, err := ReadInfo(dir, opts...)
	if err != nil {
		return err
	}
	var errs []error
	for _, table := range Tables {
		if table == TableMetrics {
			continue
		}
		file, _ := TableFile(table)
		if table == TableComparisons {
			if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, fs.ErrNotExist) {
				continue // runs written before the comparisons table have none
			}
		}
		t, err := openTable(dir, table, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t.info.RunID != info.RunID {
			errs = append(errs, fmt.Errorf("%s holds run %s, but %s holds run %s: a run was interrupted while its tables were put in place; rerun it",
				filepath.Join(dir, file), t.info.RunID, MetricsFile, info.RunID))
		}
		t.Close()
	}
	return errors.Join(errs...)
}
