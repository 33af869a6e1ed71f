package results

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// Column names (public API: change only on purpose, with a FormatVersion
// bump and an entry in the schema document).
const (
	ColRunID            = "run_id"
	ColModel            = "model"
	ColModelHash        = "model_hash"
	ColBackend          = "backend"
	ColDType            = "dtype"
	ColIntervention     = "intervention"
	ColInterventionKind = "intervention_kind"
	ColBlocks           = "blocks"
	ColTask             = "task"
	ColTaskVersion      = "task_version"
	ColTaskCategory     = "task_category"

	ColMetric         = "metric"
	ColValue          = "value"
	ColStderr         = "stderr"
	ColN              = "n"
	ColHigherIsBetter = "higher_is_better"

	ColDocIndex             = "doc_index"
	ColGold                 = "gold"
	ColPrediction           = "prediction"
	ColChoiceLogLikelihoods = "choice_loglikelihoods"

	ColRequestIndex       = "request_index"
	ColRequestType        = "request_type"
	ColContext            = "context"
	ColContinuation       = "continuation"
	ColInputIDs           = "input_ids"
	ColLogLikelihood      = "loglikelihood"
	ColIsGreedy           = "is_greedy"
	ColContextTokens      = "context_tokens"
	ColContinuationTokens = "continuation_tokens"
	ColGeneratedIDs       = "generated_ids"
)

// CellColumns are the columns that start every table and name the cell:
// the (model, intervention, task) combination a row belongs to.
var CellColumns = []string{
	ColRunID, ColModel, ColModelHash, ColBackend, ColDType,
	ColIntervention, ColInterventionKind, ColBlocks,
	ColTask, ColTaskVersion, ColTaskCategory,
}

// cellStringColumns are the dictionary-encoded string columns among
// CellColumns (all but blocks), in table order.
var cellStringColumns = []string{
	ColRunID, ColModel, ColModelHash, ColBackend, ColDType,
	ColIntervention, ColInterventionKind,
	ColTask, ColTaskVersion, ColTaskCategory,
}

// dictType is the type of every dictionary-encoded string column.
var dictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// idsType is the type of token-id lists: blocks, input_ids, generated_ids.
var idsType = arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32)

// Column documents one column of a table: what the writer writes and what
// the schema document (memscope results schema) says.
type Column struct {
	Name     string
	Type     arrow.DataType
	Nullable bool
	Meaning  string
}

// Field is the column's Arrow field.
func (c Column) Field() arrow.Field {
	return arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
}

// TableSchema documents one table of a run directory.
type TableSchema struct {
	Name        string // "metrics"
	File        string // "metrics.arrow"
	Description string
	Columns     []Column
	// MoreColumns, when not empty, says which columns follow Columns and
	// how they vary from run to run.
	MoreColumns string
}

// Fields are the Arrow fields of the table's fixed columns.
func (t TableSchema) Fields() []arrow.Field {
	fs := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fs[i] = c.Field()
	}
	return fs
}

func cellColumns() []Column {
	return []Column{
		{ColRunID, dictType, false, "the run's id (also memscope.run_id): the start time in UTC and random hex, e.g. 20260102T030405Z-a1b2c3"},
		{ColModel, dictType, false, "the model as the user named it (--model: a folder, or \"memorizer\" for the embedded one)"},
		{ColModelHash, dictType, false, "sha256 of the checkpoint files: tells apart two models given the same name"},
		{ColBackend, dictType, false, "the backend that ran the model: \"cpu\", \"cuda:0\""},
		{ColDType, dictType, false, "the compute dtype: \"float32\""},
		{ColIntervention, dictType, false, "the intervention as a spec: \"none\" for the baseline, \"attn-sc:5\", \"attn-zero:1,3\", \"attn-sc:20-23\""},
		{ColInterventionKind, dictType, false, "its kind: \"none\", \"attn-short-circuit\" (attention bypassed: each token attends only to itself) or \"attn-zero\" (the attention output, bias included, replaced by zeros)"},
		{ColBlocks, idsType, false, "the transformer blocks (0-based) the intervention changes, ascending; empty for the baseline"},
		{ColTask, dictType, false, "the task's name, as `memscope tasks` lists it"},
		{ColTaskVersion, dictType, false, "the task's version string, as `memscope tasks` shows it (\"1\"): it changes when the task's requests or scoring change"},
		{ColTaskCategory, dictType, false, "\"language\", \"reasoning\" or \"memorization\""},
	}
}

// Schemas documents the tables memscope writes, in the order they are
// documented. The writer builds its Arrow schemas from these, so the
// schema document (RenderSchemaMarkdown) cannot drift from the files.
func Schemas() []TableSchema {
	metrics := TableSchema{
		Name: TableMetrics, File: MetricsFile,
		Description: "One row per (model, intervention, task, metric): the aggregate value over the cell's documents. " +
			"Written last: a run directory with metrics.arrow holds a finished run.",
		Columns: append(cellColumns(),
			Column{ColMetric, dictType, false, "the metric's name: \"acc\", \"acc_norm\", \"exact_match\", \"perplexity\"; a group's metric carries it in brackets: \"exact_match[kind=planted]\""},
			Column{ColValue, arrow.PrimitiveTypes.Float64, false, "the value (NaN where it is undefined, e.g. a mean over no documents)"},
			Column{ColStderr, arrow.PrimitiveTypes.Float64, true, "its standard error; null where undefined (one document, or a metric without one)"},
			Column{ColN, arrow.PrimitiveTypes.Int64, false, "how many documents the value is over"},
			Column{ColHigherIsBetter, arrow.FixedWidthTypes.Boolean, false, "whether a higher value is better"},
		),
	}
	docs := TableSchema{
		Name: TableDocs, File: DocsFile,
		Description: "One row per scored document (a question, a passage, a memorized sequence) of each cell.",
		Columns: append(cellColumns(),
			Column{ColDocIndex, arrow.PrimitiveTypes.Int64, false, "the document's 0-based position in the task's data file (the same under --limit and --docs)"},
			Column{ColGold, arrow.PrimitiveTypes.Int64, true, "the correct choice (0-based); null where the task has no choices"},
			Column{ColPrediction, arrow.PrimitiveTypes.Int64, true, "the choice with the highest log-likelihood (first maximum; a NaN counts as the maximum, as numpy's argmax); null where the task has no choices"},
			Column{ColChoiceLogLikelihoods, arrow.ListOf(arrow.PrimitiveTypes.Float64), true, "each choice's log-likelihood (nats), in choice order; null where the task has no choices"},
		),
		MoreColumns: "one float64 column per per-document metric (`per_doc` in `memscope tasks --json`) of the tasks in the run, " +
			"named as the metric (acc, acc_norm, exact_match, token_accuracy, completion_entropy, nll_per_token, …), sorted by name, " +
			"nullable: null in the rows of a task that does not report that metric. So the set of these columns depends on " +
			"which tasks ran; read them by name, and combine runs by column name (DuckDB `union_by_name`, pyarrow " +
			"`concat_tables(..., promote_options=\"default\")`, polars `concat(..., how=\"diagonal\")`).",
	}
	requests := TableSchema{
		Name: TableRequests, File: RequestsFile,
		Description: "One row per backend request of each cell, with its answer: what is needed to re-score a task without running the model again.",
		Columns: append(cellColumns(),
			Column{ColDocIndex, arrow.PrimitiveTypes.Int64, false, "the document the request belongs to (docs.doc_index)"},
			Column{ColRequestIndex, arrow.PrimitiveTypes.Int64, false, "its position within the document: the choice number of a multiple-choice question; memorization: 0 the generation, 1 the teacher-forced pass"},
			Column{ColRequestType, dictType, false, "\"loglikelihood\" (a context and a continuation), \"loglikelihood_rolling\" (a whole text or id sequence) or \"generate_tokens\" (greedy continuation of a token prefix)"},
			Column{ColContext, dictType, true, "loglikelihood: the context; loglikelihood_rolling: the text scored; null where the request was given as token ids (input_ids)"},
			Column{ColContinuation, dictType, true, "loglikelihood: the continuation scored; null for the other types"},
			Column{ColInputIDs, idsType, true, "the token ids the request gave: the prefix of generate_tokens, the sequence of a loglikelihood_rolling over ids (memorization: prefix then true suffix); null for requests given as text"},
			Column{ColLogLikelihood, arrow.PrimitiveTypes.Float64, true, "the summed log-probability (nats) of the scored tokens; null for generate_tokens, which has none"},
			Column{ColIsGreedy, arrow.FixedWidthTypes.Boolean, false, "whether every scored token was the model's argmax (generate_tokens: true, the tokens are greedy by construction)"},
			Column{ColContextTokens, arrow.PrimitiveTypes.Int64, false, "tokens that only condition: the context (loglikelihood), the unscored prefix (loglikelihood_rolling), the prefix (generate_tokens)"},
			Column{ColContinuationTokens, arrow.PrimitiveTypes.Int64, false, "tokens scored (loglikelihood, loglikelihood_rolling) or generated (generate_tokens)"},
			Column{ColGeneratedIDs, idsType, true, "generate_tokens: the generated token ids, in order (re-score memorization against the true suffix in input_ids of request 1); null for the other types"},
		),
	}
	f64 := arrow.PrimitiveTypes.Float64
	comparisons := TableSchema{
		Name: TableComparisons, File: ComparisonsFile,
		Description: "One row per (model, intervention, task, per-document metric): the intervention compared with a reference " +
			"configuration of the same model (the baseline, unless asked otherwise) on the same documents, with a paired test. " +
			"The cell columns name the intervention's cell.",
		Columns: append(cellColumns(),
			Column{ColReference, dictType, false, "the configuration compared against (\"none\": the baseline)"},
			Column{ColMetric, dictType, false, "the per-document metric compared"},
			Column{ColHigherIsBetter, arrow.FixedWidthTypes.Boolean, true, "from the metrics table; null when the metric has no aggregate of that name"},
			Column{ColN, arrow.PrimitiveTypes.Int64, false, "documents scored under both configurations (the paired documents)"},
			Column{ColReferenceMean, f64, false, "mean of the metric under the reference, over the paired documents"},
			Column{ColMean, f64, false, "mean under the intervention, over the paired documents"},
			Column{ColMeanDiff, f64, false, "mean of (intervention − reference) per document"},
			Column{ColStderr, f64, true, "standard error of mean_diff, sd(intervention − reference) / sqrt(n); null when n < 2"},
			Column{ColCILow, f64, false, "lower end of the percentile bootstrap interval of mean_diff (memscope.confidence)"},
			Column{ColCIHigh, f64, false, "upper end of that interval"},
			Column{ColRelCILow, f64, true, "lower end of the percentile bootstrap interval of mean_diff / |reference_mean| (each resample's own ratio); null where undefined"},
			Column{ColRelCIHigh, f64, true, "upper end of that interval"},
			Column{ColTest, dictType, false, "mcnemar_exact (0/1 metrics) or paired_bootstrap"},
			Column{ColPValue, f64, true, "two-sided p-value of \"no change\"; null where undefined"},
			Column{ColPHolm, f64, true, "Holm-adjusted p-value across the family: one model, task, metric, reference and intervention kind (the blocks of one sweep)"},
			Column{ColSignificant, arrow.FixedWidthTypes.Boolean, false, "p_value < 0.05"},
			Column{ColSignificantHolm, arrow.FixedWidthTypes.Boolean, false, "p_holm < 0.05"},
			Column{ColNReferenceOnly, arrow.PrimitiveTypes.Int64, true, "0/1 metrics: documents scoring 1 only under the reference (McNemar's b); null otherwise"},
			Column{ColNInterventionOnly, arrow.PrimitiveTypes.Int64, true, "0/1 metrics: documents scoring 1 only under the intervention (McNemar's c); null otherwise"},
		),
	}
	return []TableSchema{metrics, docs, requests, comparisons}
}

// tableSchema is the documented schema of table.
func tableSchema(table string) TableSchema {
	for _, t := range Schemas() {
		if t.Name == table {
			return t
		}
	}
	panic("results: no schema for table " + table)
}

// reservedDocColumns are names a per-doc metric may not take.
func reservedDocColumns() map[string]bool {
	m := map[string]bool{}
	for _, c := range tableSchema(TableDocs).Columns {
		m[c.Name] = true
	}
	return m
}

// Schema metadata keys.
const (
	MetaPrefix            = "memscope."
	MetaFormatVersion     = "memscope.format_version"
	MetaTable             = "memscope.table"
	MetaRunID             = "memscope.run_id"
	MetaHarnessVersion    = "memscope.harness_version"
	MetaGitCommit         = "memscope.git_commit"
	MetaStarted           = "memscope.started"
	MetaFinished          = "memscope.finished"
	MetaMachine           = "memscope.machine"
	MetaBatchSize         = "memscope.batch_size"
	MetaSeed              = "memscope.seed"
	MetaLimit             = "memscope.limit"
	MetaDocs              = "memscope.docs"
	MetaTaskConfigHashes  = "memscope.task_config_hashes"
	MetaExtra             = "memscope.extra"
	MetaMetricDefinitions = "memscope.metric_definitions"
)

// FormatVersion is the version of the tables' layout, stored in every
// table as memscope.format_version. It is bumped, with an entry in
// formatHistory, whenever a column is added, removed, renamed or retyped.
// Readers refuse tables of a newer version (upgrade memscope to read them)
// and read every older one.
const FormatVersion = 2

// formatHistory says what each format version changed.
var formatHistory = []struct {
	version int
	change  string
}{
	{1, "the first layout: `blocks` a string (\"1,3\", \"\" for the baseline); in requests, `context` and `continuation` \"\" where a request has none, `loglikelihood` NaN for generate_tokens, no token ids."},
	{2, "`blocks` list<int32> (empty for the baseline); requests gain `input_ids` and `generated_ids` (memorization can be re-scored from the table), and `context`, `continuation` and `loglikelihood` are null where a request has none."},
}

// oldestFormatVersion is the oldest layout the readers still read.
const oldestFormatVersion = 1

// runMetadata renders the run's provenance as schema metadata.
func runMetadata(table string, info RunInfo) arrow.Metadata {
	m := map[string]string{
		MetaFormatVersion:     strconv.Itoa(FormatVersion),
		MetaTable:             table,
		MetaRunID:             info.RunID,
		MetaHarnessVersion:    info.HarnessVersion,
		MetaGitCommit:         info.GitCommit,
		MetaStarted:           formatTime(info.Started),
		MetaFinished:          formatTime(info.Finished),
		MetaMachine:           info.Machine,
		MetaBatchSize:         strconv.Itoa(info.BatchSize),
		MetaSeed:              strconv.FormatInt(info.Seed, 10),
		MetaLimit:             strconv.Itoa(info.Limit),
		MetaDocs:              info.Docs,
		MetaTaskConfigHashes:  jsonMap(info.TaskConfigHashes),
		MetaExtra:             jsonMap(info.Extra),
		MetaMetricDefinitions: MetricDefinitionsNote,
	}
	return arrow.MetadataFrom(m)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func jsonMap(m map[string]string) string {
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals; keys come out sorted
	return string(b)
}

// parseRunMetadata reads the provenance back from a table's schema metadata.
func parseRunMetadata(md arrow.Metadata) (RunInfo, string, int, error) {
	get := func(k string) string {
		if i := md.FindKey(k); i >= 0 {
			return md.Values()[i]
		}
		return ""
	}
	if md.FindKey(MetaRunID) < 0 {
		return RunInfo{}, "", 0, fmt.Errorf("no %s* schema metadata: not a memscope table", MetaPrefix)
	}
	version, err := parseFormatVersion(get(MetaFormatVersion))
	if err != nil {
		return RunInfo{}, "", 0, err
	}
	info := RunInfo{
		RunID:          get(MetaRunID),
		HarnessVersion: get(MetaHarnessVersion),
		GitCommit:      get(MetaGitCommit),
		Machine:        get(MetaMachine),
		Docs:           get(MetaDocs),
	}
	if info.Started, err = parseTime(get(MetaStarted)); err != nil {
		return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaStarted, err)
	}
	if info.Finished, err = parseTime(get(MetaFinished)); err != nil {
		return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaFinished, err)
	}
	if info.BatchSize, err = atoiOrZero(get(MetaBatchSize)); err != nil {
		return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaBatchSize, err)
	}
	if info.Limit, err = atoiOrZero(get(MetaLimit)); err != nil {
		return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaLimit, err)
	}
	if s := get(MetaSeed); s != "" {
		if info.Seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaSeed, err)
		}
	}
	if info.TaskConfigHashes, err = parseJSONMap(get(MetaTaskConfigHashes)); err != nil {
		return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaTaskConfigHashes, err)
	}
	if info.Extra, err = parseJSONMap(get(MetaExtra)); err != nil {
		return RunInfo{}, "", 0, fmt.Errorf("%s: %w", MetaExtra, err)
	}
	return info, get(MetaTable), version, nil
}

// parseFormatVersion checks a table's memscope.format_version.
func parseFormatVersion(s string) (int, error) {
	v, err := strconv.Atoi(s)
	switch {
	case err != nil || v < oldestFormatVersion:
		return 0, fmt.Errorf("results format version %q is not one memscope knows (this memscope reads versions %d to %d)", s, oldestFormatVersion, FormatVersion)
	case v > FormatVersion:
		return 0, fmt.Errorf("written by a newer memscope (results format version %d; this memscope reads versions %d to %d): upgrade memscope to read it", v, oldestFormatVersion, FormatVersion)
	}
	return v, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func atoiOrZero(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

func parseJSONMap(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}
