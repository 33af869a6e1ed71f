package results

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// textTable is a small aligned table for terminals and Markdown.
type textTable struct {
	header []string
	right  []bool // right-align the column (numbers)
	rows   [][]string
}

func (t *textTable) add(cells ...string) { t.rows = append(t.rows, cells) }

func width(s string) int { return utf8.RuneCountInString(s) }

func (t *textTable) widths() []int {
	w := make([]int, len(t.header))
	for i, h := range t.header {
		w[i] = width(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			if i < len(w) && width(c) > w[i] {
				w[i] = width(c)
			}
		}
	}
	return w
}

func pad(s string, w int, right bool) string {
	n := w - width(s)
	if n <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", n) + s
	}
	return s + strings.Repeat(" ", n)
}

// writeText renders the table with two spaces between columns and a rule
// under the header; indent prefixes every line.
func (t *textTable) writeText(w io.Writer, indent string) error {
	ws := t.widths()
	line := func(cells []string) string {
		parts := make([]string, len(ws))
		for i := range ws {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			parts[i] = pad(c, ws[i], t.right[i])
		}
		return indent + strings.TrimRight(strings.Join(parts, "  "), " ") + "\n"
	}
	var b strings.Builder
	b.WriteString(line(t.header))
	rule := make([]string, len(ws))
	for i, n := range ws {
		rule[i] = strings.Repeat("─", n)
	}
	b.WriteString(indent + strings.Join(rule, "  ") + "\n")
	for _, r := range t.rows {
		b.WriteString(line(r))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdown renders the table as a GitHub-flavoured Markdown table.
func (t *textTable) writeMarkdown(w io.Writer) error {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	row := func(cells []string) {
		b.WriteString("|")
		for i := range t.header {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			fmt.Fprintf(&b, " %s |", esc(c))
		}
		b.WriteString("\n")
	}
	row(t.header)
	b.WriteString("|")
	for i := range t.header {
		if t.right[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		row(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
