// Package arc is the shared implementation of the arc_easy and
// arc_challenge task plugins (AI2 Reasoning Challenge, lm-eval v0.4
// zero-shot prompts).
package arc

import (
	"fmt"
	"io/fs"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

// New is an ARC task reading JSON lines {"question", "choices": [...],
// "gold": 0-based index}.
func New(dataset taskkit.Dataset, description string) *taskkit.MCTask {
	return &taskkit.MCTask{
		Info: plugins.TaskInfo{
			Name:     dataset.Task,
			Version:  "1",
			Category: plugins.CategoryReasoning,
			Description: description + `, lm-eval v0.4 zero-shot: context "Question: {question}\nAnswer:", ` +
				`choices " "+each answer text (3 to 5 of them); acc and acc_norm.`,
		},
		Dataset: dataset,
		Load: func(opts taskkit.Options, announce bool) ([]taskkit.MCDoc, error) {
			return load(dataset.Source(opts, announce))
		},
	}
}

// Dataset fills in what both ARC tasks share.
func Dataset(task, fileName string, fsys fs.FS, fullDocs int) taskkit.Dataset {
	return taskkit.Dataset{
		Task:         task,
		FileName:     fileName,
		FS:           fsys,
		EmbeddedPath: "data/" + fileName,
		EmbeddedDocs: 200,
		FullDocs:     fullDocs,
		Where:        `JSON lines {"question", "choices": [...], "gold": 0-based index} of the ARC test split`,
	}
}

func load(src taskkit.Source) ([]taskkit.MCDoc, error) {
	var docs []taskkit.MCDoc
	err := src.EachJSONLine(func(_ int, obj taskkit.JSONObject) error {
		q, err := obj.String("question")
		if err != nil {
			return err
		}
		choices, err := obj.Strings("choices")
		if err != nil {
			return err
		}
		if len(choices) < 2 {
			return fmt.Errorf("%d choices; a question needs at least 2", len(choices))
		}
		gold, err := obj.Int("gold")
		if err != nil {
			return err
		}
		if err := taskkit.CheckGold(gold, len(choices)); err != nil {
			return err
		}
		docs = append(docs, taskkit.NewMCDoc(len(docs), "Question: "+q+"\nAnswer:", choices, gold))
		return nil
	})
	return docs, err
}
