// Command memscope-task-capitals is the README's multiple-choice task: one
// question per line of capitals.jsonl, scored like lm-evaluation-harness
// (acc and acc_norm) by taskkit.MCTask.
package main

import (
	"embed"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

//go:embed capitals.jsonl
var data embed.FS

var dataset = taskkit.Dataset{
	Task: "capitals", FileName: "capitals.jsonl", FS: data, EmbeddedPath: "capitals.jsonl", EmbeddedDocs: 5,
	Where: `JSON lines {"country", "choices": [...], "gold": 0-based index}`,
}

func newTask() *taskkit.MCTask {
	return &taskkit.MCTask{
		Info: plugins.TaskInfo{Name: "capitals", Version: "1", Category: plugins.CategoryLanguage,
			Description: `"The capital of {country} is" + " " + each choice; acc and acc_norm.`},
		Dataset: dataset,
		Load: func(opts taskkit.Options, announce bool) ([]taskkit.MCDoc, error) {
			var docs []taskkit.MCDoc
			err := dataset.Source(opts, announce).EachJSONLine(func(_ int, q taskkit.JSONObject) error {
				country, err := q.String("country")
				if err != nil {
					return err
				}
				choices, err := q.Strings("choices")
				if err != nil {
					return err
				}
				gold, err := q.Int("gold")
				if err == nil {
					err = taskkit.CheckGold(gold, len(choices))
				}
				docs = append(docs, taskkit.NewMCDoc(len(docs), "The capital of "+country+" is", choices, gold))
				return err
			})
			return docs, err
		},
	}
}

func main() { plugins.ServeTask(newTask()) }
