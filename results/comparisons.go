package results

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/results/paired"
)

// Comparisons table: one row per (model, intervention, task, per-document
// metric), the intervention compared with a reference configuration of the
// same model (the baseline, unless asked otherwise) on the same documents.
const (
	ComparisonsFile  = "comparisons.arrow"
	TableComparisons = "comparisons"
)

// Columns of the comparisons table after the cell columns (which name the
// intervention's cell). Public API: change only on purpose.
const (
	ColReference         = "reference"           // the configuration compared against ("none": the baseline)
	ColReferenceMean     = "reference_mean"      // mean of the metric under the reference, over the paired documents
	ColMean              = "mean"                // mean under the intervention, over the paired documents
	ColMeanDiff          = "mean_diff"           // mean of (intervention − reference) per document
	ColCILow             = "ci_low"              // percentile bootstrap interval of mean_diff
	ColCIHigh            = "ci_high"             //
	ColRelCILow          = "rel_ci_low"          // percentile bootstrap interval of mean_diff/|reference_mean| (each resample's own ratio)
	ColRelCIHigh         = "rel_ci_high"         //
	ColTest              = "test"                // mcnemar_exact (0/1 metrics) or paired_bootstrap
	ColPValue            = "p_value"             // two-sided p-value of "no change"
	ColPHolm             = "p_holm"              // Holm-adjusted across the family (see ComparisonFamily)
	ColSignificant       = "significant"         // p_value < 0.05
	ColSignificantHolm   = "significant_holm"    // p_holm < 0.05
	ColNReferenceOnly    = "n_reference_only"    // 0/1 metrics: documents scoring 1 only under the reference (McNemar's b)
	ColNInterventionOnly = "n_intervention_only" // 0/1 metrics: documents scoring 1 only under the intervention (McNemar's c)
)

// Schema metadata of the comparisons table (besides the run's).
const (
	MetaBootstrapSeed      = "memscope.bootstrap_seed"
	MetaBootstrapResamples = "memscope.bootstrap_resamples"
	MetaConfidence         = "memscope.confidence"
	MetaAlpha              = "memscope.alpha"
)

// Comparison is one row of the comparisons table.
type Comparison struct {
	Cell                                     // the intervention's cell
	Reference      intervention.Intervention // what it is compared against
	Metric         string
	HigherIsBetter *bool // from the metrics table; nil when the metric has no aggregate of that name
	paired.Result
	PHolm float64
}

// Significant reports whether the change is significant at 5%, by the
// test's own p-value or, with holm, by the Holm-adjusted one.
func (c Comparison) Significant(holm bool) bool {
	if holm {
		return c.PHolm < paired.Alpha
	}
	return c.P < paired.Alpha
}

// CompareOptions tunes Compare.
type CompareOptions struct {
	// Reference is the configuration every other one is compared with;
	// the zero value is the baseline (intervention none).
	Reference intervention.Intervention
	// Interventions, when set, limits the comparisons to these
	// configurations.
	Interventions []intervention.Intervention
	Seed          int64 // bootstrap seed (memscope run uses its --seed)
	Resamples     int   // 0: paired.DefaultResamples
}

// ComparisonFamily is the key of the comparisons one Holm correction
// spans: one model (name, weights, backend, dtype), task, metric and
// reference, and every configuration of one intervention kind, i.e. the
// blocks of one sweep.
func ComparisonFamily(c Comparison) string {
	return fmt.Sprint(c.Model, "\x00", c.ModelHash, "\x00", c.Backend, "\x00", c.DType, "\x00", c.Task, "\x00", c.Metric,
		"\x00", normalizeIntervention(c.Reference), "\x00", c.Intervention.Kind)
}

// docScores are the per-document metrics of one cell.
type docScores struct {
	cell    Cell
	pos     map[int]int // doc index → position in docs
	docs    []int
	metrics map[string][]float64 // NaN where the doc has no value
	order   []string             // metric names in column order
}

// readDocScores reads the per-document metric columns of a docs table, per
// cell, in the order cells first appear.
func readDocScores(path string) ([]*docScores, RunInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, RunInfo{}, err
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(gcAlloc))
	if err != nil {
		return nil, RunInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	defer r.Close()
	info, table, _, err := parseRunMetadata(r.Schema().Metadata())
	if err != nil {
		return nil, RunInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	if table != TableDocs {
		return nil, RunInfo{}, fmt.Errorf("read %s: it holds table %q, not %q", path, table, TableDocs)
	}
	byKey := map[string]*docScores{}
	var out []*docScores
	reserved := reservedDocColumns()
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		if err != nil {
			return nil, RunInfo{}, fmt.Errorf("read %s: %w", path, err)
		}
		c := indexColumns(rec.Schema())
		cells, err := newCellReader(rec, c)
		if err != nil {
			return nil, RunInfo{}, fmt.Errorf("read %s: %w", path, err)
		}
		docIdx, err := c.int64s(rec, ColDocIndex)
		if err != nil {
			return nil, RunInfo{}, fmt.Errorf("read %s: %w", path, err)
		}
		type metricCol struct {
			name string
			a    *array.Float64
		}
		var cols []metricCol
		for k, fld := range rec.Schema().Fields() {
			if reserved[fld.Name] {
				continue
			}
			a, ok := rec.Column(k).(*array.Float64)
			if !ok {
				return nil, RunInfo{}, fmt.Errorf("read %s: per-doc metric column %q holds %s, not float64", path, fld.Name, fld.Type)
			}
			cols = append(cols, metricCol{fld.Name, a})
		}
		for row := range int(rec.NumRows()) {
			cell, err := cells.cell(row)
			if err != nil {
				return nil, RunInfo{}, fmt.Errorf("read %s: %w", path, err)
			}
			key := cellKey(cell)
			ds := byKey[key]
			if ds == nil {
				ds = &docScores{cell: cell, pos: map[int]int{}, metrics: map[string][]float64{}}
				byKey[key] = ds
				out = append(out, ds)
			}
			di := int(docIdx.Value(row))
			p, seen := ds.pos[di]
			if !seen {
				p = len(ds.docs)
				ds.pos[di] = p
				ds.docs = append(ds.docs, di)
				for _, name := range ds.order {
					ds.metrics[name] = append(ds.metrics[name], math.NaN())
				}
			}
			for _, mc := range cols {
				if mc.a.IsNull(row) {
					continue
				}
				vals, ok := ds.metrics[mc.name]
				if !ok {
					vals = make([]float64, len(ds.docs))
					for k := range vals {
						vals[k] = math.NaN()
					}
					ds.order = append(ds.order, mc.name)
				}
				vals[p] = mc.a.Value(row)
				ds.metrics[mc.name] = vals
			}
		}
	}
	return out, info, nil
}

// directions maps (cell, metric) and (task, metric) to higher_is_better
// as the metrics table records it.
type directions struct {
	byCell, byTask map[string]bool
}

func newDirections(metrics []MetricRow) directions {
	d := directions{byCell: map[string]bool{}, byTask: map[string]bool{}}
	for _, m := range metrics {
		d.byCell[cellKey(m.Cell)+"\x00"+m.Metric] = m.HigherIsBetter
		d.byTask[m.Task+"\x00"+m.Metric] = m.HigherIsBetter
	}
	return d
}

func (d directions) of(c Cell, metric string) *bool {
	if v, ok := d.byCell[cellKey(c)+"\x00"+metric]; ok {
		return &v
	}
	if v, ok := d.byTask[c.Task+"\x00"+metric]; ok {
		return &v
	}
	return nil
}

// modelTaskKey names a cell's model and task, leaving out the intervention.
func modelTaskKey(c Cell) string {
	return fmt.Sprint(c.Model, "\x00", c.ModelHash, "\x00", c.Backend, "\x00", c.DType, "\x00", c.Task)
}

// compareScores pairs each configuration's documents with the reference's
// (by doc_index, in doc_index order) and compares every per-document
// metric both have; then Holm-adjusts within each family. Documents where
// either score is missing, NaN or infinite are left out of that metric's
// pairs.
func compareScores(cells []*docScores, dirs directions, opt CompareOptions) ([]Comparison, error) {
	ref := normalizeIntervention(opt.Reference)
	if opt.Reference.Kind == "" {
		ref = intervention.Baseline()
	}
	refs := map[string]*docScores{}
	for _, ds := range cells {
		if normalizeIntervention(ds.cell.Intervention).String() == ref.String() {
			refs[modelTaskKey(ds.cell)] = ds
		}
	}
	want := func(iv intervention.Intervention) bool {
		if len(opt.Interventions) == 0 {
			return true
		}
		for _, w := range opt.Interventions {
			if normalizeIntervention(w).String() == normalizeIntervention(iv).String() {
				return true
			}
		}
		return false
	}
	type job struct {
		out  *Comparison
		a, b []float64
	}
	var out []Comparison
	var jobs []job
	for _, ds := range cells {
		iv := normalizeIntervention(ds.cell.Intervention)
		if iv.String() == ref.String() || !want(iv) {
			continue
		}
		rs := refs[modelTaskKey(ds.cell)]
		if rs == nil {
			continue
		}
		// Pairs in doc_index order: the bootstrap's draws index them.
		sorted := slices.Clone(ds.docs)
		slices.Sort(sorted)
		for _, metric := range ds.order {
			rv, ok := rs.metrics[metric]
			if !ok {
				continue
			}
			var a, b []float64
			for _, di := range sorted {
				p := ds.pos[di]
				q, ok := rs.pos[di]
				if !ok {
					continue
				}
				x, y := rv[q], ds.metrics[metric][p]
				if finite(x) && finite(y) {
					a, b = append(a, x), append(b, y)
				}
			}
			if len(a) == 0 {
				continue
			}
			out = append(out, Comparison{Cell: ds.cell, Reference: ref, Metric: metric, HigherIsBetter: dirs.of(ds.cell, metric)})
			jobs = append(jobs, job{a: a, b: b})
		}
	}
	for i := range jobs {
		jobs[i].out = &out[i]
	}
	// Comparisons are independent and each seeds its own generator: spread
	// them over the cores, the result does not depend on the order.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan job)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				r, err := paired.Compare(j.a, j.b, paired.Options{Seed: opt.Seed, Resamples: opt.Resamples})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("compare %s %s/%s: %w", cellName(j.out.Cell), j.out.Task, j.out.Metric, err)
					}
					mu.Unlock()
					continue
				}
				j.out.Result = r
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	families := map[string][]int{}
	var order []string
	for i, c := range out {
		k := ComparisonFamily(c)
		if _, ok := families[k]; !ok {
			order = append(order, k)
		}
		families[k] = append(families[k], i)
	}
	for _, k := range order {
		idx := families[k]
		ps := make([]float64, len(idx))
		for j, i := range idx {
			ps[j] = out[i].P
		}
		for j, adj := range paired.Holm(ps) {
			out[idx[j]].PHolm = adj
		}
	}
	return out, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Compare computes the comparisons of the run in dir from its docs and
// metrics tables. opt.Seed 0 means the run's own seed.
func Compare(dir string, opt CompareOptions) ([]Comparison, RunInfo, error) {
	run, err := ReadMetrics(dir)
	if err != nil {
		return nil, RunInfo{}, err
	}
	path := filepath.Join(dir, DocsFile)
	if _, err := os.Stat(path); err != nil {
		return nil, RunInfo{}, fmt.Errorf("%s is missing: the run in %s is incomplete", path, dir)
	}
	cells, info, err := readDocScores(path)
	if err != nil {
		return nil, RunInfo{}, err
	}
	if info.RunID != run.Info.RunID {
		return nil, RunInfo{}, fmt.Errorf("the tables in %s come from different runs (%s has run %s, %s has run %s); rerun it",
			dir, MetricsFile, run.Info.RunID, DocsFile, info.RunID)
	}
	if opt.Seed == 0 {
		opt.Seed = run.Info.Seed
	}
	cs, err := compareScores(cells, newDirections(run.Metrics), opt)
	return cs, run.Info, err
}

// comparisonsFields are the columns of the comparisons table.
func comparisonsFields() []arrow.Field { return tableSchema(TableComparisons).Fields() }

// comparisonsMetadata is the run's metadata plus how the table was computed.
func comparisonsMetadata(info RunInfo, opt CompareOptions) arrow.Metadata {
	md := runMetadata(TableComparisons, info)
	keys, vals := md.Keys(), md.Values()
	resamples := opt.Resamples
	if resamples <= 0 {
		resamples = paired.DefaultResamples
	}
	keys = append(keys, MetaBootstrapSeed, MetaBootstrapResamples, MetaConfidence, MetaAlpha)
	vals = append(vals, strconv.FormatInt(opt.Seed, 10), strconv.Itoa(resamples),
		strconv.FormatFloat(paired.DefaultConfidence, 'g', -1, 64), strconv.FormatFloat(paired.Alpha, 'g', -1, 64))
	return arrow.NewMetadata(keys, vals)
}

// writeComparisons writes the table to path (atomically).
func writeComparisons(path string, info RunInfo, opt CompareOptions, cs []Comparison) error {
	schema := arrow.NewSchema(comparisonsFields(), ptr(comparisonsMetadata(info, opt)))
	return writeIPC(path, schema, gcAlloc, func(fw *ipc.FileWriter) error {
		b := array.NewRecordBuilder(gcAlloc, schema)
		defer b.Release()
		str := func(i int, s string) {
			b.Field(i).(*array.BinaryDictionaryBuilder).AppendString(s)
		}
		for _, c := range cs {
			vals, i := cellValues(info.RunID, c.Cell), 0
			for k, name := range CellColumns {
				if name == ColBlocks {
					appendIDs(b.Field(k).(*array.ListBuilder), cellBlocks(c.Cell))
					continue
				}
				str(k, vals[i])
				i++
			}
			k := len(CellColumns)
			str(k, normalizeIntervention(c.Reference).String())
			str(k+1, c.Metric)
			if c.HigherIsBetter == nil {
				b.Field(k + 2).AppendNull()
			} else {
				b.Field(k + 2).(*array.BooleanBuilder).Append(*c.HigherIsBetter)
			}
			b.Field(k + 3).(*array.Int64Builder).Append(int64(c.N))
			for j, v := range []float64{c.MeanA, c.MeanB, c.MeanDiff} {
				b.Field(k + 4 + j).(*array.Float64Builder).Append(v)
			}
			if math.IsNaN(c.Stderr) {
				b.Field(k + 7).AppendNull()
			} else {
				b.Field(k + 7).(*array.Float64Builder).Append(c.Stderr)
			}
			b.Field(k + 8).(*array.Float64Builder).Append(c.CILow)
			b.Field(k + 9).(*array.Float64Builder).Append(c.CIHigh)
			nullable := func(i int, v float64) {
				if math.IsNaN(v) {
					b.Field(i).AppendNull()
				} else {
					b.Field(i).(*array.Float64Builder).Append(v)
				}
			}
			nullable(k+10, c.RelLow)
			nullable(k+11, c.RelHigh)
			str(k+12, c.Test)
			nullable(k+13, c.P)
			nullable(k+14, c.PHolm)
			b.Field(k + 15).(*array.BooleanBuilder).Append(c.Significant(false))
			b.Field(k + 16).(*array.BooleanBuilder).Append(c.Significant(true))
			for j, v := range []int{c.OnlyA, c.OnlyB} {
				if v < 0 {
					b.Field(k + 17 + j).AppendNull()
				} else {
					b.Field(k + 17 + j).(*array.Int64Builder).Append(int64(v))
				}
			}
		}
		rec := b.NewRecord()
		defer rec.Release()
		return fw.Write(rec)
	})
}

// WriteComparisons computes the comparisons of the run in dir (see
// Compare) and writes them to out, or to DIR/comparisons.arrow when out is
// "". It returns the comparisons written.
func WriteComparisons(dir, out string, opt CompareOptions) ([]Comparison, error) {
	cs, info, err := Compare(dir, opt)
	if err != nil {
		return nil, err
	}
	if opt.Seed == 0 {
		opt.Seed = info.Seed
	}
	if out == "" {
		out = filepath.Join(dir, ComparisonsFile)
	}
	if err := writeComparisons(out, info, opt, cs); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	return cs, nil
}

// ReadComparisons reads DIR/comparisons.arrow. A run written before
// memscope stored comparisons has none: they are computed from its docs
// table then (with the run's seed), and nothing is written.
func ReadComparisons(dir string) ([]Comparison, error) {
	path := filepath.Join(dir, ComparisonsFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		cs, _, err := Compare(dir, CompareOptions{})
		return cs, err
	}
	return readComparisonsFile(path)
}

func readComparisonsFile(path string) ([]Comparison, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f, ipc.WithAllocator(gcAlloc))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (not an Arrow IPC file, or damaged)", path, err)
	}
	defer r.Close()
	if _, table, _, err := parseRunMetadata(r.Schema().Metadata()); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	} else if table != TableComparisons {
		return nil, fmt.Errorf("read %s: it holds table %q, not %q", path, table, TableComparisons)
	}
	var out []Comparison
	for i := range r.NumRecords() {
		rec, err := r.Record(i)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if err := readComparisonRecord(rec, &out); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return out, nil
}

func readComparisonRecord(rec arrow.Record, out *[]Comparison) error {
	c := indexColumns(rec.Schema())
	cells, err := newCellReader(rec, c)
	if err != nil {
		return err
	}
	var strs [3]func(int) string
	for k, name := range []string{ColReference, ColMetric, ColTest} {
		if strs[k], err = c.strings(rec, name); err != nil {
			return err
		}
	}
	hib, err := c.bools(rec, ColHigherIsBetter)
	if err != nil {
		return err
	}
	var ints [3]*array.Int64
	for k, name := range []string{ColN, ColNReferenceOnly, ColNInterventionOnly} {
		if ints[k], err = c.int64s(rec, name); err != nil {
			return err
		}
	}
	fnames := []string{ColReferenceMean, ColMean, ColMeanDiff, ColStderr, ColCILow, ColCIHigh, ColPValue, ColPHolm, ColRelCILow, ColRelCIHigh}
	fs := make([]*array.Float64, len(fnames))
	for k, name := range fnames {
		if fs[k], err = c.float64s(rec, name); err != nil {
			return err
		}
	}
	for i := range int(rec.NumRows()) {
		cell, err := cells.cell(i)
		if err != nil {
			return err
		}
		ref, err := interventionFromColumns(strs[0](i), "")
		if err != nil {
			return fmt.Errorf("row %d: reference: %w", i, err)
		}
		cmp := Comparison{Cell: cell, Reference: ref, Metric: strs[1](i)}
		if hib.IsValid(i) {
			v := hib.Value(i)
			cmp.HigherIsBetter = &v
		}
		cmp.N = int(ints[0].Value(i))
		cmp.OnlyA, cmp.OnlyB = nullableIndex(ints[1], i), nullableIndex(ints[2], i)
		v := make([]float64, len(fs))
		for k, a := range fs {
			v[k] = nullableFloat(a, i)
		}
		cmp.MeanA, cmp.MeanB, cmp.MeanDiff, cmp.Stderr, cmp.CILow, cmp.CIHigh, cmp.P, cmp.PHolm = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		cmp.RelLow, cmp.RelHigh = v[8], v[9]
		cmp.Test = strs[2](i)
		*out = append(*out, cmp)
	}
	return nil
}

// FindComparison returns the comparison of a cell's metric against the
// baseline, if there is one.
func FindComparison(cs []Comparison, c Cell, metric string) (Comparison, bool) {
	i := slices.IndexFunc(cs, func(x Comparison) bool {
		return x.Metric == metric && x.Reference.IsBaseline() && cellKey(x.Cell) == cellKey(c)
	})
	if i < 0 {
		return Comparison{}, false
	}
	return cs[i], true
}
