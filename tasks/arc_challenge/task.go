package main

import (
	"embed"

	"github.com/memscope/memscope/tasks/taskkit"
	"github.com/memscope/memscope/tasks/taskkit/arc"
)

//go:embed data
var dataFS embed.FS

func newTask() *taskkit.MCTask {
	return arc.New(arc.Dataset("arc_challenge", "arc_challenge_test.derived.jsonl", dataFS, 1172), "ARC-Challenge (test split, 1172 questions)")
}
