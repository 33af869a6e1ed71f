package main

import (
	"embed"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

//go:embed data
var dataFS embed.FS

const name = "piqa"

var dataset = taskkit.Dataset{
	Task:         name,
	FileName:     "valid.jsonl",
	FS:           dataFS,
	EmbeddedPath: "data/valid.jsonl",
	EmbeddedDocs: 200,
	FullDocs:     1838,
	Where:        "PIQA's validation split from ybisk.github.io/piqa, with valid-labels.lst beside it",
}

var labelsOption = plugins.OptionInfo{
	Name: "labels",
	Help: "path to valid-labels.lst (one 0/1 per line, aligned with the data lines); default: valid-labels.lst next to the data file",
}

func newTask() *taskkit.MCTask {
	return &taskkit.MCTask{
		Info: plugins.TaskInfo{
			Name:     name,
			Version:  "1",
			Category: plugins.CategoryReasoning,
			Description: "PIQA physical commonsense (validation, 1838 questions), lm-eval v0.4 zero-shot: " +
				`context "Question: {goal}\nAnswer:", choices " "+sol1 and " "+sol2; acc and acc_norm.`,
		},
		Dataset: dataset,
		Extra:   []plugins.OptionInfo{labelsOption},
		Load:    load,
	}
}

// load reads the questions and their labels.
func load(opts taskkit.Options, announce bool) ([]taskkit.MCDoc, error) {
	src := dataset.Source(opts, announce)
	var labels taskkit.Source
	switch {
	case opts.String("labels") != "" && opts.String("data") == "":
		return nil, fmt.Errorf("%s: the labels option needs the data option too (--task-opt %s.data=PATH/valid.jsonl)", name, name)
	case opts.String("labels") != "":
		labels = taskkit.FileSource(opts.String("labels"))
	case opts.String("data") != "":
		labels = taskkit.FileSource(filepath.Join(filepath.Dir(opts.String("data")), "valid-labels.lst"))
	default:
		labels = taskkit.EmbeddedSource(dataFS, "data/valid-labels.lst", name+"/valid-labels.lst")
	}

	type question struct{ goal, sol1, sol2 string }
	var qs []question
	err := src.EachJSONLine(func(_ int, obj taskkit.JSONObject) error {
		var q question
		var err error
		if q.goal, err = obj.String("goal"); err != nil {
			return err
		}
		if q.sol1, err = obj.String("sol1"); err != nil {
			return err
		}
		if q.sol2, err = obj.String("sol2"); err != nil {
			return err
		}
		qs = append(qs, q)
		return nil
	})
	if err != nil {
		return nil, err
	}

	var golds []int
	blank := 0 // the line of a blank line seen so far: only trailing ones are fine
	err = labels.EachLine(func(line int, text []byte) error {
		label := strings.TrimSpace(string(text))
		if label == "" {
			if blank == 0 {
				blank = line
			}
			return nil
		}
		if blank != 0 {
			return fmt.Errorf("blank line %d among the labels (the labels must be aligned line by line with the questions)", blank)
		}
		switch label {
		case "0":
			golds = append(golds, 0)
		case "1":
			golds = append(golds, 1)
		default:
			return fmt.Errorf("label %q is not 0 or 1", text)
		}
		return nil
	})
	if err != nil {
		if opts.String("data") != "" && opts.String("labels") == "" {
			err = fmt.Errorf("%w (pass the labels file with --task-opt %s.labels=PATH)", err, name)
		}
		return nil, err
	}
	if len(golds) != len(qs) {
		return nil, fmt.Errorf("%s: %d labels for the %d questions of %s (the files must be aligned line by line)", labels.Name, len(golds), len(qs), src.Name)
	}

	docs := make([]taskkit.MCDoc, len(qs))
	for i, q := range qs {
		docs[i] = taskkit.NewMCDoc(i, "Question: "+q.goal+"\nAnswer:", []string{q.sol1, q.sol2}, golds[i])
	}
	return docs, nil
}
