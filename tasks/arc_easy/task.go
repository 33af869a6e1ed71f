package main

import (
	"embed"

	"github.com/memscope/memscope/tasks/taskkit"
	"github.com/memscope/memscope/tasks/taskkit/arc"
)

//go:embed data
var dataFS embed.FS

func newTask() *taskkit.MCTask {
	return arc.New(arc.Dataset("arc_easy", "arc_easy_test.derived.jsonl", dataFS, 2376), "ARC-Easy (test split, 2376 questions)")
}
