// Package results stores what a memscope run measured as three Apache Arrow
// IPC files in the run directory, and reads them back for the leaderboard,
// export and figures:
//
//   - metrics.arrow: one row per (model, intervention, task, metric) with the
//     aggregate value and its standard error;
//   - docs.arrow: one row per scored document (or memorized sample), with the
//     gold and predicted choice, the choices' log-likelihoods and every
//     per-document metric as its own column;
//   - requests.arrow: one row per backend request with its strings and
//     log-likelihood, so results can be re-scored without rerunning a model.
//
// Column names are public API (see the Col* constants). Run provenance is in
// each table's schema metadata under keys prefixed "memscope.". Tables are
// written atomically: a run that fails or is interrupted leaves no new table
// behind (Writer).
package results

import (
	"time"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// File names of the three tables inside a run directory.
const (
	MetricsFile  = "metrics.arrow"
	DocsFile     = "docs.arrow"
	RequestsFile = "requests.arrow"
)

// Table names, as the CLI and the "memscope.table" metadata key spell them.
const (
	TableMetrics  = "metrics"
	TableDocs     = "docs"
	TableRequests = "requests"
)

// Tables lists the table names in the order they are documented.
var Tables = []string{TableMetrics, TableDocs, TableRequests, TableComparisons}

// TableFile maps a table name to its file name in a run directory.
func TableFile(table string) (string, bool) {
	switch table {
	case TableMetrics:
		return MetricsFile, true
	case TableDocs:
		return DocsFile, true
	case TableRequests:
		return RequestsFile, true
	case TableComparisons:
		return ComparisonsFile, true
	}
	return "", false
}

// MemorizationTask is the name of the memorization-extraction task; its
// metrics are the memorization axis of the leaderboard and figures.
const MemorizationTask = "memorization"

// Cell is one (model, intervention, task) combination of a run.
type Cell struct {
	Model        string // model name or path as the user gave it
	ModelHash    string // hash of the checkpoint files
	Backend      string // "cpu", "cuda:0"
	DType        string // compute dtype, "float32"
	Intervention intervention.Intervention
	Task         string
	TaskVersion  string
	TaskCategory string // plugins.CategoryLanguage, CategoryReasoning or CategoryMemorization (the task's own word)
}

// MetricRow is one aggregate metric of a cell.
type MetricRow struct {
	Cell
	Metric         string
	Value          float64
	Stderr         float64 // NaN when undefined (stored as null)
	N              int     // documents the value is over
	HigherIsBetter bool
}

// DocRow is one scored document of a cell.
type DocRow struct {
	Cell
	DocIndex             int
	Gold                 int       // -1 when the task has no gold choice (stored as null)
	Prediction           int       // -1 when the task has no prediction (stored as null)
	ChoiceLogLikelihoods []float64 // nil when the task has no choices (stored as null)
	Metrics              map[string]float64
}

// RequestRow is one backend request of a cell and its answer.
type RequestRow struct {
	Cell
	DocIndex           int
	RequestIndex       int                 // index within the document (choice number)
	RequestType        plugins.RequestKind // KindLoglikelihood, KindLoglikelihoodRolling or KindGenerateTokens
	Context            string              // loglikelihood's context, loglikelihood_rolling's text ("" where given as InputIDs)
	Continuation       string              // loglikelihood's continuation ("" for the other types)
	InputIDs           []int32             // the token ids a request given as ids carried (generate prefix, rolling ids); nil for text
	LogLikelihood      float64             // NaN for generate_tokens (stored as null)
	IsGreedy           bool
	ContextTokens      int
	ContinuationTokens int
	GeneratedIDs       []int32 // generate_tokens' generated ids; nil for the other types
}

// CellResult is everything one cell produced.
type CellResult struct {
	Cell     Cell
	Metrics  []MetricRow
	Docs     []DocRow
	Requests []RequestRow
}

// RunInfo is the provenance of a run; it is stored in every table's schema
// metadata.
type RunInfo struct {
	RunID            string
	HarnessVersion   string
	GitCommit        string
	Started          time.Time
	Finished         time.Time
	Machine          string
	BatchSize        int
	Seed             int64
	Limit            int
	Docs             string            // document ranges the run was limited to ("" = all)
	TaskConfigHashes map[string]string // task name → hash of its configuration
	Extra            map[string]string
}

// Run is a whole run read back from its directory.
type Run struct {
	Dir         string
	Info        RunInfo
	Metrics     []MetricRow
	Docs        []DocRow
	Requests    []RequestRow
	Comparisons []Comparison // each configuration against the baseline (comparisons.arrow)
}

// MetricDefinitionsNote is stored with every table: how our metrics differ
// from the paper's reference code (AikyamLab/llm-memorization).
const MetricDefinitionsNote = "memscope metric definitions fix bugs of the reference code " +
	"(AikyamLab/llm-memorization): per-block memorization scores are stored (the reference " +
	"loop summed them but never appended them); token_accuracy is the real fraction of " +
	"matching greedy tokens (the reference cast the mean to int, reducing it to exact match); " +
	"completion_entropy is taken over the suffix's sequence positions prefix-1..L-2 (the " +
	"reference sliced the vocabulary axis, off by one); one batch size is used for the " +
	"baseline and every intervention."
