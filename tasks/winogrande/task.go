package main

import (
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

//go:embed data
var dataFS embed.FS

const name = "winogrande"

var dataset = taskkit.Dataset{
	Task:         name,
	FileName:     "winogrande_dev.derived.jsonl",
	FS:           dataFS,
	EmbeddedPath: "data/winogrande_dev.derived.jsonl",
	EmbeddedDocs: 200,
	FullDocs:     1267,
	Where:        `JSON lines {"sentence", "option1", "option2", "answer": "1"|"2"} as in winogrande_xl's validation split`,
}

func newTask() *taskkit.MCTask {
	return &taskkit.MCTask{
		Info: plugins.TaskInfo{
			Name:     name,
			Version:  "1",
			Category: plugins.CategoryReasoning,
			Description: "WinoGrande (winogrande_xl validation, 1267 sentences), lm-eval v0.4 partial scoring: for each option " +
				`the context is the sentence up to "_" followed by the option, and only the shared continuation ` +
				`" "+(the rest of the sentence) is scored. acc is lm-eval's metric; acc_norm (which lm-eval does not ` +
				"report for WinoGrande) divides by the length of each option's context, as lm-eval's code would.",
		},
		Dataset: dataset,
		Load:    load,
	}
}

// load reads the sentences and builds lm-eval's partial-scoring documents.
func load(opts taskkit.Options, announce bool) ([]taskkit.MCDoc, error) {
	src := dataset.Source(opts, announce)
	var docs []taskkit.MCDoc
	err := src.EachJSONLine(func(_ int, obj taskkit.JSONObject) error {
		sentence, err := obj.String("sentence")
		if err != nil {
			return err
		}
		var options [2]string
		for i, key := range []string{"option1", "option2"} {
			if options[i], err = obj.String(key); err != nil {
				return err
			}
		}
		answer, err := obj.String("answer")
		if err != nil {
			return err
		}
		var gold int
		switch answer {
		case "1":
			gold = 0
		case "2":
			gold = 1
		default:
			return fmt.Errorf(`answer %q is not "1" or "2"`, answer)
		}
		blank := strings.Index(sentence, "_")
		if blank < 0 {
			return errors.New(`sentence has no "_" blank to fill`)
		}
		d := taskkit.MCDoc{Index: len(docs), Gold: gold}
		cont := taskkit.TargetDelimiter + taskkit.PyStrip(sentence[blank+1:])
		for _, opt := range options {
			ctx := sentence[:blank] + opt
			d.Contexts = append(d.Contexts, ctx)
			d.Continuations = append(d.Continuations, cont)
			d.NormLengths = append(d.NormLengths, taskkit.CharLen(ctx))
		}
		docs = append(docs, d)
		return nil
	})
	return docs, err
}
