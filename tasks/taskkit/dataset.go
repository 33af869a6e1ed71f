package taskkit

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/memscope/memscope/plugins"
)

// Dataset describes a task's data file and the copy (all of it, or its
// first documents) that the task embeds as its default.
type Dataset struct {
	Task         string // task name, for messages
	FileName     string // the full file's usual name, e.g. "lambada_test.jsonl"
	FS           fs.FS  // the task's embedded files
	EmbeddedPath string // path inside FS
	EmbeddedDocs int    // documents in the embedded copy
	FullDocs     int    // documents in the full file; 0 or EmbeddedDocs when the task embeds all of it
	Where        string // where to get the full file, or what its format is
}

// complete reports whether the embedded copy is the whole data set.
func (d Dataset) complete() bool { return d.FullDocs <= d.EmbeddedDocs }

// Describe is the TaskInfo.DataFiles entry for the embedded default.
func (d Dataset) Describe() string {
	if d.complete() {
		return fmt.Sprintf("embedded:%s/%s (all %d documents; --task-opt %s.data=PATH reads another file: %s)",
			d.Task, filepath.Base(d.EmbeddedPath), d.EmbeddedDocs, d.Task, d.Where)
	}
	return fmt.Sprintf("embedded:%s/%s (first %d of %d documents; for all of them pass --task-opt %s.data=PATH to %s, %s)",
		d.Task, filepath.Base(d.EmbeddedPath), d.EmbeddedDocs, d.FullDocs, d.Task, d.FileName, d.Where)
}

// Source picks the file the user named in the "data" option, or the
// embedded subset (saying so on the log when announce is set).
func (d Dataset) Source(opts Options, announce bool) Source {
	if path := opts.String("data"); path != "" {
		return FileSource(path)
	}
	if announce && !d.complete() {
		Logf(d.Task, "using the embedded first %d of %d documents; for the full set pass --task-opt %s.data=PATH to %s (%s)",
			d.EmbeddedDocs, d.FullDocs, d.Task, d.FileName, d.Where)
	}
	return EmbeddedSource(d.FS, d.EmbeddedPath, d.Task+"/"+filepath.Base(d.EmbeddedPath))
}

// DataOption documents the "data" option of a benchmark.
func (d Dataset) DataOption() plugins.OptionInfo {
	if d.complete() {
		return plugins.OptionInfo{Name: "data", Help: fmt.Sprintf("path to another %s (%s); default: the embedded %d documents",
			d.FileName, d.Where, d.EmbeddedDocs)}
	}
	return plugins.OptionInfo{Name: "data", Help: fmt.Sprintf("path to the full %s (%d documents; %s); default: the embedded first %d",
		d.FileName, d.FullDocs, d.Where, d.EmbeddedDocs)}
}
