package main

import (
	"embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/tasks/taskkit"
)

//go:embed data
var dataFS embed.FS

const name = "hellaswag"

var dataset = taskkit.Dataset{
	Task:         name,
	FileName:     "hellaswag_val_full.txt.bz2",
	FS:           dataFS,
	EmbeddedPath: "data/hellaswag_val_full.txt.bz2",
	EmbeddedDocs: 200,
	FullDocs:     10042,
	Where:        `klosax/hellaswag_text_data's 6-line text format ("activity: context", gold 0-3, 4 endings), plain, bzip2 or gzip`,
}

func newTask() *taskkit.MCTask {
	return &taskkit.MCTask{
		Info: plugins.TaskInfo{
			Name:     name,
			Version:  "1",
			Category: plugins.CategoryReasoning,
			Description: "HellaSwag (validation, 10042 contexts), lm-eval v0.4 zero-shot: context preprocess(activity + \": \" + ctx), " +
				`choices " "+preprocess(ending); acc and acc_norm. The text copy lacks the ctx_a/ctx_b split: ctx_b is taken ` +
				`as the fragment after the last ". " when it starts lower-case, and capitalized as lm-eval does.`,
		},
		Dataset: dataset,
		Load:    load,
	}
}

// linesPerDoc: the context line, the gold label, then the four endings.
const linesPerDoc = 6

func load(opts taskkit.Options, announce bool) ([]taskkit.MCDoc, error) {
	src := dataset.Source(opts, announce)
	var lines []string
	if err := src.EachLine(func(_ int, text []byte) error {
		lines = append(lines, string(text))
		return nil
	}); err != nil {
		return nil, err
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines)%linesPerDoc != 0 {
		start := len(lines) - len(lines)%linesPerDoc
		return nil, fmt.Errorf("%s:%d: incomplete document: the file has %d lines, but each document takes %d (context, gold label, 4 endings)",
			src.Name, start+1, len(lines), linesPerDoc)
	}
	docs := make([]taskkit.MCDoc, 0, len(lines)/linesPerDoc)
	for start := 0; start < len(lines); start += linesPerDoc {
		gold, err := strconv.Atoi(strings.TrimSpace(lines[start+1]))
		if err != nil || gold < 0 || gold > 3 {
			return nil, fmt.Errorf("%s:%d: gold label %q is not 0, 1, 2 or 3 (each document is 6 lines: context, gold label, 4 endings)",
				src.Name, start+2, lines[start+1])
		}
		endings := make([]string, 4)
		for i := range endings {
			endings[i] = preprocess(lines[start+2+i])
		}
		query := preprocess(capitalizeCtxB(lines[start]))
		docs = append(docs, taskkit.NewMCDoc(len(docs), query, endings, gold))
	}
	return docs, nil
}

// capitalizeCtxB redoes lm-eval's ctx_b.capitalize() on a line that has
// lost the ctx_a/ctx_b split: ctx_b is the fragment after the last ". "
// when it starts with a lower-case letter.
func capitalizeCtxB(line string) string {
	i := strings.LastIndex(line, ". ")
	if i < 0 {
		return line
	}
	frag := line[i+2:]
	if r, _ := utf8.DecodeRuneInString(frag); !unicode.IsLower(r) {
		return line
	}
	return line[:i+2] + taskkit.PyCapitalize(frag)
}

var bracketTag = regexp.MustCompile(`\[.*?\]`)

// preprocess is lm-eval's HellaSwag text clean-up, step by step: strip,
// " [title]" becomes ". ", every "[...]" tag goes (shortest match), and
// double spaces become single (one pass, as Python's str.replace).
func preprocess(text string) string {
	text = taskkit.PyStrip(text)
	text = strings.ReplaceAll(text, " [title]", ". ")
	text = bracketTag.ReplaceAllString(text, "")
	return strings.ReplaceAll(text, "  ", " ")
}
