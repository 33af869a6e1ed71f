package taskkit

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/memscope/memscope/plugins"
)

// Dataset describes a benchmark's data file and the subset of it that the
// task embeds as its default.
type Dataset struct {
	Task         string // task name, for messages
	FileName     string // the full file's usual name, e.g. "lambada_test.jsonl"
	FS           fs.FS  // the task's embedded files
	EmbeddedPath string // path inside FS
	EmbeddedDocs int    // documents in the embedded subset
	FullDocs     int    // documents in the full file
	Where        string // where to get the full file
}

// Describe is the TaskInfo.DataFiles entry for the embedded default.
func (d Dataset) Describe() string {
	return fmt.Sprintf("embedded:%s/%s (first %d of %d documents; for all of them pass --task-opt %s.data=PATH to %s, %s)",
		d.Task, filepath.Base(d.EmbeddedPath), d.EmbeddedDocs, d.FullDocs, d.Task, d.FileName, d.Where)
}

// Source picks the file the user named in the "data" option, or the
// embedded subset (saying so on the log when announce is set).
func (d Dataset) Source(opts Options, announce bool) Source {
	if path := opts.String("data"); path != "" {
		return FileSource(path)
	}
	if announce {
		Logf(d.Task, "using the embedded first %d of %d documents; for the full set pass --task-opt %s.data=PATH to %s (%s)",
			d.EmbeddedDocs, d.FullDocs, d.Task, d.FileName, d.Where)
	}
	return EmbeddedSource(d.FS, d.EmbeddedPath, d.Task+"/"+filepath.Base(d.EmbeddedPath))
}

// DataOption documents the "data" option of a benchmark.
func (d Dataset) DataOption() plugins.OptionInfo {
	return plugins.OptionInfo{Name: "data", Help: fmt.Sprintf("path to the full %s (%d documents; %s); default: the embedded first %d",
		d.FileName, d.FullDocs, d.Where, d.EmbeddedDocs)}
}
