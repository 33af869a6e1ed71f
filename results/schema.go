package results

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// Column names (public API: change only on purpose).
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
	ColLogLikelihood      = "loglikelihood"
	ColIsGreedy           = "is_greedy"
	ColContextTokens      = "context_tokens"
	ColContinuationTokens = "continuation_tokens"
)

// CellColumns are the columns that start every table and name the cell.
var CellColumns = []string{
	ColRunID, ColModel, ColModelHash, ColBackend, ColDType,
	ColIntervention, ColInterventionKind, ColBlocks,
	ColTask, ColTaskVersion, ColTaskCategory,
}

// dictType is the type of every dictionary-encoded string column.
var dictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

func dictField(name string) arrow.Field {
	return arrow.Field{Name: name, Type: dictType}
}

func cellFields() []arrow.Field {
	fs := make([]arrow.Field, len(CellColumns))
	for i, c := range CellColumns {
		fs[i] = dictField(c)
	}
	return fs
}

// metricsFields are the columns of the metrics table.
func metricsFields() []arrow.Field {
	return append(cellFields(),
		dictField(ColMetric),
		arrow.Field{Name: ColValue, Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: ColStderr, Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		arrow.Field{Name: ColN, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: ColHigherIsBetter, Type: arrow.FixedWidthTypes.Boolean},
	)
}

// docsFixedFields are the docs table's columns before the per-doc metric
// columns (one float64 column per metric, named like the metric).
func docsFixedFields() []arrow.Field {
	return append(cellFields(),
		arrow.Field{Name: ColDocIndex, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: ColGold, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: ColPrediction, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: ColChoiceLogLikelihoods, Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
	)
}

// requestsFields are the columns of the requests table.
func requestsFields() []arrow.Field {
	return append(cellFields(),
		arrow.Field{Name: ColDocIndex, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: ColRequestIndex, Type: arrow.PrimitiveTypes.Int64},
		dictField(ColRequestType),
		dictField(ColContext),
		dictField(ColContinuation),
		arrow.Field{Name: ColLogLikelihood, Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: ColIsGreedy, Type: arrow.FixedWidthTypes.Boolean},
		arrow.Field{Name: ColContextTokens, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: ColContinuationTokens, Type: arrow.PrimitiveTypes.Int64},
	)
}

// reservedDocColumns are names a per-doc metric may not take.
func reservedDocColumns() map[string]bool {
	m := map[string]bool{}
	for _, f := range docsFixedFields() {
		m[f.Name] = true
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

// FormatVersion is bumped when the tables change incompatibly.
const FormatVersion = "1"

// runMetadata renders the run's provenance as schema metadata.
func runMetadata(table string, info RunInfo) arrow.Metadata {
	m := map[string]string{
		MetaFormatVersion:     FormatVersion,
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
func parseRunMetadata(md arrow.Metadata) (RunInfo, string, error) {
	get := func(k string) string {
		if i := md.FindKey(k); i >= 0 {
			return md.Values()[i]
		}
		return ""
	}
	if md.FindKey(MetaRunID) < 0 {
		return RunInfo{}, "", fmt.Errorf("no %s* schema metadata: not a memscope table", MetaPrefix)
	}
	if v := get(MetaFormatVersion); v != FormatVersion {
		return RunInfo{}, "", fmt.Errorf("results format version %q is not supported (this memscope reads version %s)", v, FormatVersion)
	}
	info := RunInfo{
		RunID:          get(MetaRunID),
		HarnessVersion: get(MetaHarnessVersion),
		GitCommit:      get(MetaGitCommit),
		Machine:        get(MetaMachine),
		Docs:           get(MetaDocs),
	}
	var err error
	if info.Started, err = parseTime(get(MetaStarted)); err != nil {
		return RunInfo{}, "", fmt.Errorf("%s: %w", MetaStarted, err)
	}
	if info.Finished, err = parseTime(get(MetaFinished)); err != nil {
		return RunInfo{}, "", fmt.Errorf("%s: %w", MetaFinished, err)
	}
	if info.BatchSize, err = atoiOrZero(get(MetaBatchSize)); err != nil {
		return RunInfo{}, "", fmt.Errorf("%s: %w", MetaBatchSize, err)
	}
	if info.Limit, err = atoiOrZero(get(MetaLimit)); err != nil {
		return RunInfo{}, "", fmt.Errorf("%s: %w", MetaLimit, err)
	}
	if s := get(MetaSeed); s != "" {
		if info.Seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return RunInfo{}, "", fmt.Errorf("%s: %w", MetaSeed, err)
		}
	}
	if info.TaskConfigHashes, err = parseJSONMap(get(MetaTaskConfigHashes)); err != nil {
		return RunInfo{}, "", fmt.Errorf("%s: %w", MetaTaskConfigHashes, err)
	}
	if info.Extra, err = parseJSONMap(get(MetaExtra)); err != nil {
		return RunInfo{}, "", fmt.Errorf("%s: %w", MetaExtra, err)
	}
	return info, get(MetaTable), nil
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
