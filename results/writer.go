package results

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/memscope/memscope/internal/atomicfile"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// Option configures Create, Read and the other functions that touch Arrow
// memory.
type Option func(*options)

type options struct {
	mem     memory.Allocator
	scratch string
}

// WithAllocator makes the Writer and the Parquet export allocate Arrow
// memory from mem (tests pass a memory.CheckedAllocator to catch leaks).
// Readers of the IPC tables always use Go's garbage-collected allocator
// (see openTable).
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) { o.mem = mem }
}

// WithScratchDir makes the Writer keep its spools and staged tables in
// dir (created if missing) instead of hidden files in the run directory,
// so the caller can clear what a killed run left there (RemoveLeftovers).
// dir must be on the run directory's file system: the staged tables are
// renamed into place.
func WithScratchDir(dir string) Option {
	return func(o *options) { o.scratch = dir }
}

func makeOptions(opts []Option) options {
	o := options{mem: memory.DefaultAllocator}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// gcAlloc is Go's garbage-collected allocator, for the Arrow memory that
// must not come from a reference-counting allocator (see Close and
// openTable).
var gcAlloc = memory.NewGoAllocator()

// maxBatchRows bounds the rows of one record batch in the tables.
const maxBatchRows = 1 << 16

// Writer streams the cells of a run to disk and writes the three tables
// when it is closed. Rows of docs and requests are spooled to hidden files
// in the run directory as cells arrive, 64Ki rows at a time (strings are
// kept once, as dictionary indices), so a run with millions of requests
// never sits in memory. Close writes DIR/metrics.arrow, DIR/docs.arrow and
// DIR/requests.arrow, each complete before it appears; metrics.arrow is
// renamed into place last and is the marker of a finished run. Abort, or a
// failed Close, removes everything the writer created.
//
// A Writer is safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	dir     string
	scratch string // where the spools and staged tables go (dir unless WithScratchDir)
	token   string // names this writer's hidden files
	info    RunInfo
	mem     memory.Allocator
	err     error // sticky: a spool write failed, the run cannot be completed
	closed  bool

	dicts      map[string]*stringMemo // dictionary-encoded column → its values
	cells      [][]int32              // per cell: its codes in the cellStringColumns dictionaries
	cellBlocks [][]int32              // per cell: its blocks column
	cellIndex  map[string]int         // cell key → index in cells

	metrics []metricEntry

	docMetricIDs   map[string]int32 // per-doc metric name → id in the docs spool
	docMetricNames []string

	docs, reqs *spool
}

type metricEntry struct {
	cell   int
	metric int32
	row    MetricRow
}

// Create starts writing a run into dir (created if missing). Empty fields
// of info are filled in: RunID (from the start time and random bits) and
// Started (now); Finished is set by Close when it is zero. Existing tables
// in dir are replaced only when Close succeeds.
func Create(dir string, info RunInfo, opts ...Option) (*Writer, error) {
	o := makeOptions(opts)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create results directory: %w", err)
	}
	scratch := dir
	if o.scratch != "" {
		scratch = o.scratch
		if err := os.MkdirAll(scratch, 0o755); err != nil {
			return nil, fmt.Errorf("create results scratch directory: %w", err)
		}
	}
	token := randomHex(6)
	if info.Started.IsZero() {
		info.Started = time.Now()
	}
	if info.RunID == "" {
		info.RunID = info.Started.UTC().Format("20060102T150405Z") + "-" + randomHex(3)
	}
	info.TaskConfigHashes = copyMap(info.TaskConfigHashes)
	info.Extra = copyMap(info.Extra)
	w := &Writer{
		dir:          dir,
		scratch:      scratch,
		token:        token,
		info:         info,
		mem:          o.mem,
		dicts:        map[string]*stringMemo{},
		cellIndex:    map[string]int{},
		docMetricIDs: map[string]int32{},
	}
	for _, c := range append(append([]string{}, cellStringColumns...), ColMetric, ColRequestType, ColContext, ColContinuation) {
		w.dicts[c] = newStringMemo()
	}
	var err error
	if w.docs, err = newSpool(w.hidden("docs.spool"), docsSpoolSchema, o.mem); err != nil {
		return nil, err
	}
	if w.reqs, err = newSpool(w.hidden("requests.spool"), requestsSpoolSchema, o.mem); err != nil {
		w.docs.discard()
		return nil, err
	}
	return w, nil
}

// Info returns the run's provenance as it will be stored (with RunID and
// Started filled in).
func (w *Writer) Info() RunInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.info
}

// SetExtra records one more provenance entry (RunInfo.Extra) learned as
// the run goes, e.g. what the backend computes with; Close stores it.
func (w *Writer) SetExtra(key, value string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.info.Extra == nil {
		w.info.Extra = map[string]string{}
	}
	w.info.Extra[key] = value
}

// Dir returns the run directory.
func (w *Writer) Dir() string { return w.dir }

func (w *Writer) hidden(name string) string {
	return filepath.Join(w.scratch, hiddenPrefix+w.token+"."+name)
}

// hiddenPrefix starts the names of a Writer's spools and staged tables.
const hiddenPrefix = ".memscope-"

// Add records one cell. Rows whose own Cell is the zero value take
// c.Cell; a row naming another cell is an error. Adding the same (model,
// model hash, backend, dtype, intervention, task) twice is an error.
// Nothing of a rejected cell is recorded.
func (w *Writer) Add(c CellResult) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("results: Add after Close or Abort")
	}
	if w.err != nil {
		return w.err
	}
	if err := w.validate(c); err != nil {
		return fmt.Errorf("results: cell %s: %w", cellName(c.Cell), err)
	}
	key := cellKey(c.Cell)
	if _, dup := w.cellIndex[key]; dup {
		return fmt.Errorf("results: cell %s was already added", cellName(c.Cell))
	}
	ci := len(w.cells)
	w.cellIndex[key] = ci
	w.cells = append(w.cells, w.cellCodes(c.Cell))
	w.cellBlocks = append(w.cellBlocks, cellBlocks(c.Cell))

	for _, m := range c.Metrics {
		m.Cell = c.Cell
		w.metrics = append(w.metrics, metricEntry{cell: ci, metric: w.dicts[ColMetric].code(m.Metric), row: m})
	}
	if err := w.spoolDocs(ci, c.Docs); err != nil {
		w.err = fmt.Errorf("results: spool docs of %s: %w", cellName(c.Cell), err)
		return w.err
	}
	if err := w.spoolRequests(ci, c.Requests); err != nil {
		w.err = fmt.Errorf("results: spool requests of %s: %w", cellName(c.Cell), err)
		return w.err
	}
	return nil
}

func (w *Writer) validate(c CellResult) error {
	cell := c.Cell
	if strings.TrimSpace(cell.Model) == "" {
		return errors.New("model is empty")
	}
	if strings.TrimSpace(cell.Task) == "" {
		return errors.New("task is empty")
	}
	if _, err := interventionFromColumns(cell.Intervention.String(), string(normalizeIntervention(cell.Intervention).Kind)); err != nil {
		return err
	}
	own := func(rc Cell) error {
		if isZeroCell(rc) || cellsEqual(rc, cell) {
			return nil
		}
		return fmt.Errorf("a row belongs to another cell (%s)", cellName(rc))
	}
	seen := map[string]bool{}
	for _, m := range c.Metrics {
		if err := own(m.Cell); err != nil {
			return err
		}
		if m.Metric == "" {
			return errors.New("a metric has no name")
		}
		if seen[m.Metric] {
			return fmt.Errorf("metric %q appears twice", m.Metric)
		}
		seen[m.Metric] = true
	}
	reserved := reservedDocColumns()
	for _, d := range c.Docs {
		if err := own(d.Cell); err != nil {
			return err
		}
		for name := range d.Metrics {
			if name == "" {
				return fmt.Errorf("doc %d: a per-doc metric has no name", d.DocIndex)
			}
			if reserved[name] {
				return fmt.Errorf("doc %d: per-doc metric %q clashes with the docs table column of that name; rename the metric", d.DocIndex, name)
			}
		}
	}
	for _, r := range c.Requests {
		if err := own(r.Cell); err != nil {
			return err
		}
		if !r.RequestType.Valid() {
			return fmt.Errorf("doc %d request %d: request type %q is not one of %s, %s, %s",
				r.DocIndex, r.RequestIndex, string(r.RequestType), plugins.KindLoglikelihood, plugins.KindLoglikelihoodRolling, plugins.KindGenerateTokens)
		}
	}
	return nil
}

// cellCodes returns the dictionary codes of the cell's cellStringColumns
// values.
func (w *Writer) cellCodes(c Cell) []int32 {
	vals := cellValues(w.info.RunID, c)
	codes := make([]int32, len(vals))
	for i, v := range vals {
		codes[i] = w.dicts[cellStringColumns[i]].code(v)
	}
	return codes
}

// cellValues lists a cell's values in cellStringColumns order.
func cellValues(runID string, c Cell) []string {
	iv := normalizeIntervention(c.Intervention)
	return []string{
		runID, c.Model, c.ModelHash, c.Backend, c.DType,
		iv.String(), string(iv.Kind),
		c.Task, c.TaskVersion, c.TaskCategory,
	}
}

// cellBlocks is the cell's blocks column: its intervention's blocks,
// ascending; empty (not nil) for the baseline.
func cellBlocks(c Cell) []int32 {
	iv := normalizeIntervention(c.Intervention)
	out := make([]int32, len(iv.Blocks))
	for i, b := range iv.Blocks {
		out[i] = int32(b)
	}
	return out
}

func normalizeIntervention(iv intervention.Intervention) intervention.Intervention {
	if iv.IsBaseline() {
		return intervention.Baseline()
	}
	return intervention.New(iv.Kind, iv.Blocks...)
}

func cellKey(c Cell) string {
	return strings.Join([]string{c.Model, c.ModelHash, c.Backend, c.DType, normalizeIntervention(c.Intervention).String(), c.Task}, "\x00")
}

func cellName(c Cell) string {
	return fmt.Sprintf("%s/%s/%s", c.Model, normalizeIntervention(c.Intervention), c.Task)
}

func isZeroCell(c Cell) bool {
	return c.Model == "" && c.ModelHash == "" && c.Backend == "" && c.DType == "" &&
		c.Intervention.Kind == "" && len(c.Intervention.Blocks) == 0 &&
		c.Task == "" && c.TaskVersion == "" && c.TaskCategory == ""
}

func cellsEqual(a, b Cell) bool {
	return a.Model == b.Model && a.ModelHash == b.ModelHash && a.Backend == b.Backend && a.DType == b.DType &&
		normalizeIntervention(a.Intervention).String() == normalizeIntervention(b.Intervention).String() &&
		a.Task == b.Task && a.TaskVersion == b.TaskVersion && a.TaskCategory == b.TaskCategory
}

// spoolDocs appends the docs of cell ci to the docs spool.
func (w *Writer) spoolDocs(ci int, docs []DocRow) error {
	b := w.docs.b
	cell := b.Field(0).(*array.Int32Builder)
	docIdx := b.Field(1).(*array.Int64Builder)
	gold := b.Field(2).(*array.Int64Builder)
	pred := b.Field(3).(*array.Int64Builder)
	lls := b.Field(4).(*array.ListBuilder)
	llVals := lls.ValueBuilder().(*array.Float64Builder)
	mids := b.Field(5).(*array.ListBuilder)
	midVals := mids.ValueBuilder().(*array.Int32Builder)
	mvals := b.Field(6).(*array.ListBuilder)
	mvalVals := mvals.ValueBuilder().(*array.Float64Builder)
	var names []string
	for _, d := range docs {
		cell.Append(int32(ci))
		docIdx.Append(int64(d.DocIndex))
		appendOptionalIndex(gold, d.Gold)
		appendOptionalIndex(pred, d.Prediction)
		if d.ChoiceLogLikelihoods == nil {
			lls.AppendNull()
		} else {
			lls.Append(true)
			llVals.AppendValues(d.ChoiceLogLikelihoods, nil)
		}
		names = names[:0]
		for name := range d.Metrics {
			names = append(names, name)
		}
		sort.Strings(names)
		mids.Append(true)
		mvals.Append(true)
		for _, name := range names {
			id, ok := w.docMetricIDs[name]
			if !ok {
				id = int32(len(w.docMetricNames))
				w.docMetricIDs[name] = id
				w.docMetricNames = append(w.docMetricNames, name)
			}
			midVals.Append(id)
			mvalVals.Append(d.Metrics[name])
		}
		if err := w.docs.rowAdded(); err != nil {
			return err
		}
	}
	return nil
}

func appendOptionalIndex(b *array.Int64Builder, v int) {
	if v < 0 {
		b.AppendNull()
		return
	}
	b.Append(int64(v))
}

// spoolRequests appends the requests of cell ci to the requests spool.
func (w *Writer) spoolRequests(ci int, reqs []RequestRow) error {
	b := w.reqs.b
	cell := b.Field(0).(*array.Int32Builder)
	docIdx := b.Field(1).(*array.Int64Builder)
	reqIdx := b.Field(2).(*array.Int64Builder)
	typ := b.Field(3).(*array.Int32Builder)
	ctx := b.Field(4).(*array.Int32Builder)
	cont := b.Field(5).(*array.Int32Builder)
	input := b.Field(6).(*array.ListBuilder)
	ll := b.Field(7).(*array.Float64Builder)
	greedy := b.Field(8).(*array.BooleanBuilder)
	ctxTok := b.Field(9).(*array.Int64Builder)
	contTok := b.Field(10).(*array.Int64Builder)
	generated := b.Field(11).(*array.ListBuilder)
	types, contexts, conts := w.dicts[ColRequestType], w.dicts[ColContext], w.dicts[ColContinuation]
	for _, r := range reqs {
		cell.Append(int32(ci))
		docIdx.Append(int64(r.DocIndex))
		reqIdx.Append(int64(r.RequestIndex))
		typ.Append(types.code(string(r.RequestType)))
		// Text columns are null where the request has no such text: a
		// request given as ids has no context, only loglikelihood has a
		// continuation.
		if r.RequestType == plugins.KindGenerateTokens || r.InputIDs != nil {
			ctx.AppendNull()
		} else {
			ctx.Append(contexts.code(r.Context))
		}
		if r.RequestType == plugins.KindLoglikelihood {
			cont.Append(conts.code(r.Continuation))
		} else {
			cont.AppendNull()
		}
		appendIDs(input, r.InputIDs)
		if r.RequestType == plugins.KindGenerateTokens {
			ll.AppendNull() // greedy generation reports no log-likelihood
		} else {
			ll.Append(r.LogLikelihood)
		}
		greedy.Append(r.IsGreedy)
		ctxTok.Append(int64(r.ContextTokens))
		contTok.Append(int64(r.ContinuationTokens))
		if r.RequestType == plugins.KindGenerateTokens {
			appendIDs(generated, nonNil(r.GeneratedIDs))
		} else {
			generated.AppendNull()
		}
		if err := w.reqs.rowAdded(); err != nil {
			return err
		}
	}
	return nil
}

// appendIDs appends a token-id list; nil is null.
func appendIDs(b *array.ListBuilder, ids []int32) {
	if ids == nil {
		b.AppendNull()
		return
	}
	b.Append(true)
	b.ValueBuilder().(*array.Int32Builder).AppendValues(ids, nil)
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// Abort stops the run and removes every file the writer created; tables
// already in the directory from an earlier run stay as they were.
func (w *Writer) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	w.discardFiles()
}

func (w *Writer) discardFiles() {
	w.docs.discard()
	w.reqs.discard()
	for _, t := range Tables {
		os.Remove(w.hidden(t + ".staged"))
	}
}

// failAt lets tests make Close fail at a given step ("docs", "requests",
// "metrics", "commit").
var failAt func(step string) error

func checkFail(step string) error {
	if failAt != nil {
		return failAt(step)
	}
	return nil
}

// Close writes the tables and makes them appear in the run directory: the
// three the cells filled, and comparisons.arrow, computed from the docs
// (every configuration against the baseline, bootstrapped with the run's
// seed; see Compare). On error nothing new is left behind.
func (w *Writer) Close() (err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("results: Close after Close or Abort")
	}
	w.closed = true
	defer func() {
		if err != nil {
			w.discardFiles()
		}
	}()
	if w.err != nil {
		return w.err
	}
	if w.info.Finished.IsZero() {
		w.info.Finished = time.Now()
	}
	if err := w.docs.finish(); err != nil {
		return fmt.Errorf("results: docs spool: %w", err)
	}
	if err := w.reqs.finish(); err != nil {
		return fmt.Errorf("results: requests spool: %w", err)
	}

	// The dictionaries come from Go's garbage-collected allocator, not
	// w.mem: arrow v17's ipc.FileWriter retains every dictionary it writes
	// and never releases it (its stream Writer does, on Close), so with a
	// reference-counting allocator they would leak.
	dicts := map[string]arrow.Array{}
	for name, m := range w.dicts {
		dicts[name] = m.array(gcAlloc)
	}
	defer func() {
		for _, d := range dicts {
			d.Release()
		}
	}()

	if err := w.writeDocs(dicts); err != nil {
		return fmt.Errorf("results: write %s: %w", DocsFile, err)
	}
	if err := w.writeRequests(dicts); err != nil {
		return fmt.Errorf("results: write %s: %w", RequestsFile, err)
	}
	if err := w.writeComparisons(); err != nil {
		return fmt.Errorf("results: write %s: %w", ComparisonsFile, err)
	}
	if err := w.writeMetrics(dicts); err != nil {
		return fmt.Errorf("results: write %s: %w", MetricsFile, err)
	}
	w.docs.discard()
	w.reqs.discard()
	return w.commit()
}

// commit renames the staged tables into place, metrics last. If a rename
// fails, tables already renamed by this writer are removed again.
func (w *Writer) commit() error {
	var done []string
	for _, t := range []string{TableDocs, TableRequests, TableComparisons, TableMetrics} {
		file, _ := TableFile(t)
		final := filepath.Join(w.dir, file)
		err := checkFail("commit-" + t)
		if err == nil {
			err = os.Rename(w.hidden(t+".staged"), final)
		}
		if err != nil {
			for _, f := range done {
				os.Remove(f)
			}
			return fmt.Errorf("results: put %s in place: %w", final, err)
		}
		done = append(done, final)
	}
	syncDir(w.dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: makes the renames durable where the OS supports it
		d.Close()
	}
}

// writeTable stages one table: fill writes its records.
func (w *Writer) writeTable(table string, schema *arrow.Schema, fill func(fw *ipc.FileWriter) error) error {
	if err := checkFail(table); err != nil {
		return err
	}
	return writeIPC(w.hidden(table+".staged"), schema, w.mem, fill)
}

// writeIPC writes an Arrow IPC file (zstd-compressed) atomically: fill
// writes its records.
func writeIPC(path string, schema *arrow.Schema, mem memory.Allocator, fill func(fw *ipc.FileWriter) error) error {
	return atomicfile.Write(path, 0o644, func(out io.Writer) error {
		ws, ok := out.(io.WriteSeeker)
		if !ok {
			return errors.New("internal error: atomicfile writer cannot seek")
		}
		fw, err := ipc.NewFileWriter(ws, ipc.WithSchema(schema), ipc.WithAllocator(mem), ipc.WithZstd())
		if err != nil {
			return err
		}
		if err := fill(fw); err != nil {
			fw.Close()
			return err
		}
		return fw.Close()
	})
}

// cellColumnArrays builds the cell columns (CellColumns order) for rows
// whose cells are the given indices into w.cells.
func (w *Writer) cellColumnArrays(n int, cellOf func(row int) int, dicts map[string]arrow.Array) []arrow.Array {
	out := make([]arrow.Array, 0, len(CellColumns))
	for i, name := range cellStringColumns {
		b := array.NewInt32Builder(w.mem)
		b.Reserve(n)
		for r := range n {
			b.UnsafeAppend(w.cells[cellOf(r)][i])
		}
		idx := b.NewArray()
		b.Release()
		out = append(out, array.NewDictionaryArray(dictType, idx, dicts[name]))
		idx.Release()
		if name == ColInterventionKind { // blocks comes next
			lb := array.NewListBuilderWithField(w.mem, idsType.ElemField())
			for r := range n {
				appendIDs(lb, w.cellBlocks[cellOf(r)])
			}
			out = append(out, lb.NewArray())
			lb.Release()
		}
	}
	return out
}

// spoolCells reads a spool record's cell column.
func spoolCells(rec arrow.Record) func(int) int {
	cells := rec.Column(0).(*array.Int32)
	return func(r int) int { return int(cells.Value(r)) }
}

func (w *Writer) writeMetrics(dicts map[string]arrow.Array) error {
	schema := arrow.NewSchema(tableSchema(TableMetrics).Fields(), ptr(runMetadata(TableMetrics, w.info)))
	return w.writeTable(TableMetrics, schema, func(fw *ipc.FileWriter) error {
		// Metrics are few: one record for the whole table, in the order added.
		n := len(w.metrics)
		metric := array.NewInt32Builder(w.mem)
		defer metric.Release()
		value := array.NewFloat64Builder(w.mem)
		defer value.Release()
		stderr := array.NewFloat64Builder(w.mem)
		defer stderr.Release()
		count := array.NewInt64Builder(w.mem)
		defer count.Release()
		hib := array.NewBooleanBuilder(w.mem)
		defer hib.Release()
		for _, m := range w.metrics {
			metric.Append(m.metric)
			value.Append(m.row.Value)
			if math.IsNaN(m.row.Stderr) {
				stderr.AppendNull()
			} else {
				stderr.Append(m.row.Stderr)
			}
			count.Append(int64(m.row.N))
			hib.Append(m.row.HigherIsBetter)
		}
		arrs := w.cellColumnArrays(n, func(r int) int { return w.metrics[r].cell }, dicts)
		defer func() {
			for _, a := range arrs {
				a.Release()
			}
		}()
		idx := metric.NewArray()
		arrs = append(arrs, array.NewDictionaryArray(dictType, idx, dicts[ColMetric]))
		idx.Release()
		arrs = append(arrs, value.NewArray(), stderr.NewArray(), count.NewArray(), hib.NewArray())
		rec := array.NewRecord(schema, arrs, int64(n))
		defer rec.Release()
		return fw.Write(rec)
	})
}

// docMetricOrder returns the per-doc metric names sorted, and for each
// spool id its column position.
func (w *Writer) docMetricOrder() ([]string, []int) {
	names := append([]string(nil), w.docMetricNames...)
	sort.Strings(names)
	pos := map[string]int{}
	for i, n := range names {
		pos[n] = i
	}
	byID := make([]int, len(w.docMetricNames))
	for id, n := range w.docMetricNames {
		byID[id] = pos[n]
	}
	return names, byID
}

func (w *Writer) writeDocs(dicts map[string]arrow.Array) error {
	names, colOf := w.docMetricOrder()
	fields := tableSchema(TableDocs).Fields()
	for _, n := range names {
		fields = append(fields, arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	schema := arrow.NewSchema(fields, ptr(runMetadata(TableDocs, w.info)))
	return w.writeTable(TableDocs, schema, func(fw *ipc.FileWriter) error {
		return w.docs.each(func(rec arrow.Record) error {
			n := int(rec.NumRows())
			arrs := w.cellColumnArrays(n, spoolCells(rec), dicts)
			defer func() {
				for _, a := range arrs {
					a.Release()
				}
			}()
			for i := 1; i <= 4; i++ { // doc_index, gold, prediction, choice_loglikelihoods
				a := rec.Column(i)
				a.Retain()
				arrs = append(arrs, a)
			}
			builders := make([]*array.Float64Builder, len(names))
			for i := range builders {
				builders[i] = array.NewFloat64Builder(w.mem)
				defer builders[i].Release()
				builders[i].Reserve(n)
			}
			ids := rec.Column(5).(*array.List)
			idVals := ids.ListValues().(*array.Int32)
			vals := rec.Column(6).(*array.List)
			valVals := vals.ListValues().(*array.Float64)
			row := make([]float64, len(names))
			set := make([]bool, len(names))
			for r := range n {
				clear(set)
				start, end := ids.ValueOffsets(r)
				vstart, _ := vals.ValueOffsets(r)
				for k := start; k < end; k++ {
					c := colOf[idVals.Value(int(k))]
					row[c] = valVals.Value(int(vstart + k - start))
					set[c] = true
				}
				for c, b := range builders {
					if set[c] {
						b.UnsafeAppend(row[c])
					} else {
						b.AppendNull()
					}
				}
			}
			for _, b := range builders {
				arrs = append(arrs, b.NewArray())
			}
			out := array.NewRecord(schema, arrs, int64(n))
			defer out.Release()
			return fw.Write(out)
		})
	})
}

func (w *Writer) writeRequests(dicts map[string]arrow.Array) error {
	schema := arrow.NewSchema(tableSchema(TableRequests).Fields(), ptr(runMetadata(TableRequests, w.info)))
	return w.writeTable(TableRequests, schema, func(fw *ipc.FileWriter) error {
		return w.reqs.each(func(rec arrow.Record) error {
			n := int(rec.NumRows())
			arrs := w.cellColumnArrays(n, spoolCells(rec), dicts)
			defer func() {
				for _, a := range arrs {
					a.Release()
				}
			}()
			for i := 1; i < int(rec.NumCols()); i++ {
				a := rec.Column(i)
				switch i {
				case 3, 4, 5: // request_type, context, continuation: codes into the run's dictionaries
					arrs = append(arrs, array.NewDictionaryArray(dictType, a, dicts[[]string{ColRequestType, ColContext, ColContinuation}[i-3]]))
				default:
					a.Retain()
					arrs = append(arrs, a)
				}
			}
			out := array.NewRecord(schema, arrs, int64(n))
			defer out.Release()
			return fw.Write(out)
		})
	})
}

// writeComparisons stages the comparisons table, computed from the staged
// docs table.
func (w *Writer) writeComparisons() error {
	if err := checkFail(TableComparisons); err != nil {
		return err
	}
	cells, _, err := readDocScores(w.hidden(TableDocs + ".staged"))
	if err != nil {
		return err
	}
	rows := make([]MetricRow, len(w.metrics))
	for i, m := range w.metrics {
		rows[i] = m.row
	}
	opt := CompareOptions{Seed: w.info.Seed}
	cs, err := compareScores(cells, newDirections(rows), opt)
	if err != nil {
		return err
	}
	return writeComparisons(w.hidden(TableComparisons+".staged"), w.info, opt, cs)
}

func ptr[T any](v T) *T { return &v }

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(b)
}

// stringMemo assigns each distinct string a code: the values of one
// dictionary-encoded column across the whole run.
type stringMemo struct {
	codes  map[string]int32
	values []string
}

func newStringMemo() *stringMemo { return &stringMemo{codes: map[string]int32{}} }

func (m *stringMemo) code(s string) int32 {
	if c, ok := m.codes[s]; ok {
		return c
	}
	c := int32(len(m.values))
	m.codes[s] = c
	m.values = append(m.values, s)
	return c
}

func (m *stringMemo) array(mem memory.Allocator) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.AppendValues(m.values, nil)
	return b.NewArray()
}

// Spool schemas: each row's cell (an index into Writer.cells) and its own
// data; strings are codes into the writer's dictionaries.
var (
	docsSpoolSchema = arrow.NewSchema([]arrow.Field{
		{Name: "cell", Type: arrow.PrimitiveTypes.Int32},
		{Name: ColDocIndex, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColGold, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: ColPrediction, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: ColChoiceLogLikelihoods, Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
		{Name: "metric_ids", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
		{Name: "metric_values", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
	}, nil)
	requestsSpoolSchema = arrow.NewSchema([]arrow.Field{
		{Name: "cell", Type: arrow.PrimitiveTypes.Int32},
		{Name: ColDocIndex, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColRequestIndex, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColRequestType, Type: arrow.PrimitiveTypes.Int32},
		{Name: ColContext, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: ColContinuation, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: ColInputIDs, Type: idsType, Nullable: true},
		{Name: ColLogLikelihood, Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: ColIsGreedy, Type: arrow.FixedWidthTypes.Boolean},
		{Name: ColContextTokens, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColContinuationTokens, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColGeneratedIDs, Type: idsType, Nullable: true},
	}, nil)
)

// spool is a hidden Arrow IPC stream of row batches: rows collect in a
// builder and go to disk maxBatchRows at a time, so small cells share
// batches and large ones never sit in memory whole.
type spool struct {
	path   string
	schema *arrow.Schema
	mem    memory.Allocator
	f      *os.File
	w      *ipc.Writer
	b      *array.RecordBuilder
	rows   int
}

func newSpool(path string, schema *arrow.Schema, mem memory.Allocator) (*spool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("results: create spool: %w", err)
	}
	return &spool{path: path, schema: schema, mem: mem, f: f,
		w: ipc.NewWriter(f, ipc.WithSchema(schema), ipc.WithAllocator(mem), ipc.WithLZ4()),
		b: array.NewRecordBuilder(mem, schema)}, nil
}

// rowAdded counts a row appended to the builder and writes the batch out
// when it is full.
func (s *spool) rowAdded() error {
	s.rows++
	if s.rows >= maxBatchRows {
		return s.flush()
	}
	return nil
}

func (s *spool) flush() error {
	if s.rows == 0 {
		return nil
	}
	rec := s.b.NewRecord()
	defer rec.Release()
	s.rows = 0
	return s.w.Write(rec)
}

// finish writes the last rows and ends the stream so it can be read back.
func (s *spool) finish() error {
	if s.w == nil {
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	err := s.w.Close()
	s.w = nil
	return err
}

// each reads the batches back in order.
func (s *spool) each(fn func(rec arrow.Record) error) error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r, err := ipc.NewReader(s.f, ipc.WithAllocator(s.mem), ipc.WithSchema(s.schema))
	if err != nil {
		return err
	}
	defer r.Release()
	for r.Next() {
		if err := fn(r.Record()); err != nil {
			return err
		}
	}
	return r.Err()
}

// discard releases the builder, closes and removes the spool file.
func (s *spool) discard() {
	if s.b != nil {
		s.b.Release()
		s.b = nil
	}
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	os.Remove(s.path)
}
