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
	Where:        `the official JSON lines (rowanz/hellaswag's hellaswag_val.jsonl: ctx_a, ctx_b, activity_label, endings, label; lm-eval's exact context rule) or klosax/hellaswag_text_data's 6-line text format ("activity: context", gold 0-3, 4 endings; the ctx_b split rebuilt), plain, bzip2 or gzip`,
}

func newTask() *taskkit.MCTask {
	return &taskkit.MCTask{
		Info: plugins.TaskInfo{
			Name:     name,
			Version:  "2", // 2: official JSON lines accepted
			Category: plugins.CategoryReasoning,
			Description: "HellaSwag (validation, 10042 contexts), lm-eval v0.4 zero-shot: context preprocess(activity + \": \" + ctx), " +
				`choices " "+preprocess(ending); acc and acc_norm. From the official JSON lines ctx is lm-eval's ctx_a + " " + ctx_b.capitalize(). ` +
				`The 6-line text copy (the embedded default) lacks the ctx_a/ctx_b split: ctx_b is taken as the fragment after the last ". " ` +
				`when it starts lower-case, and capitalized as lm-eval does (3243 of the 10042 contexts are changed so).`,
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
	if isJSONLines(lines) {
		return loadJSONLines(src)
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

// isJSONLines tells the official JSON lines from the 6-line text format:
// the first non-blank line is a JSON object.
func isJSONLines(lines []string) bool {
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" {
			return strings.HasPrefix(t, "{")
		}
	}
	return false
}

// loadJSONLines reads rowanz/hellaswag's JSON lines with lm-eval's exact
// rule: query = preprocess(activity_label + ": " + ctx_a + " " +
// ctx_b.capitalize()), choices preprocess(ending), gold int(label).
func loadJSONLines(src taskkit.Source) ([]taskkit.MCDoc, error) {
	var docs []taskkit.MCDoc
	err := src.EachJSONLine(func(line int, o taskkit.JSONObject) error {
		fail := func(err error) error { return fmt.Errorf("%s:%d: %w", src.Name, line, err) }
		label, err := o.String("activity_label")
		if err != nil {
			return fail(err)
		}
		ctxA, err := o.String("ctx_a")
		if err != nil {
			return fail(err)
		}
		ctxB, err := o.String("ctx_b")
		if err != nil {
			return fail(err)
		}
		endings, err := o.Strings("endings")
		if err != nil {
			return fail(err)
		}
		if len(endings) != 4 {
			return fail(fmt.Errorf("%d endings, want 4", len(endings)))
		}
		gold, err := jsonLabel(o)
		if err != nil {
			return fail(err)
		}
		for i := range endings {
			endings[i] = preprocess(endings[i])
		}
		query := preprocess(label + ": " + ctxA + " " + taskkit.PyCapitalize(ctxB))
		docs = append(docs, taskkit.NewMCDoc(len(docs), query, endings, gold))
		return nil
	})
	return docs, err
}

// jsonLabel reads the gold label: an integer in the official file, a string
// ("0"-"3") in the Hugging Face copy; lm-eval takes int(label).
func jsonLabel(o taskkit.JSONObject) (int, error) {
	n, err := o.Int("label")
	if err != nil {
		s, serr := o.String("label")
		if serr != nil {
			return 0, err
		}
		if n, err = strconv.Atoi(strings.TrimSpace(s)); err != nil {
			return 0, fmt.Errorf("field \"label\": %q is not 0, 1, 2 or 3", s)
		}
	}
	if n < 0 || n > 3 {
		return 0, fmt.Errorf("field \"label\": %d is not 0, 1, 2 or 3", n)
	}
	return n, nil
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
