package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// stderrTail keeps the end of a plugin's raw stderr, for error messages
// when the plugin dies: its last few lines, and the first line of a Go
// panic or fatal error (which the stack trace would push out).
type stderrTail struct {
	mu    sync.Mutex
	cur   []byte
	lines []string
	panic string
}

const (
	tailLines   = 3
	tailLineMax = 500
)

func newStderrTail() *stderrTail { return &stderrTail{} }

func (t *stderrTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := b
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.appendCur(rest)
			break
		}
		t.appendCur(rest[:i])
		t.endLine()
		rest = rest[i+1:]
	}
	return len(b), nil
}

func (t *stderrTail) appendCur(b []byte) {
	if room := tailLineMax - len(t.cur); room > 0 {
		if len(b) > room {
			b = b[:room]
		}
		t.cur = append(t.cur, b...)
	}
}

func (t *stderrTail) endLine() {
	line := strings.TrimSpace(string(t.cur))
	t.cur = t.cur[:0]
	if line == "" {
		return
	}
	if t.panic == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		t.panic = line
	}
	t.lines = append(t.lines, renderLogLine(line))
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// summary is "" when the plugin wrote nothing.
func (t *stderrTail) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.panic != "" {
		return t.panic
	}
	return strings.Join(t.lines, " | ")
}

// renderLogLine shortens an hclog JSON line to "level: message k=v ...".
func renderLogLine(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return line
	}
	msg, ok := m["@message"].(string)
	if !ok {
		return line
	}
	var b strings.Builder
	if lvl, _ := m["@level"].(string); lvl != "" {
		b.WriteString(lvl + ": ")
	}
	b.WriteString(msg)
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@") && k != "timestamp" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, m[k])
	}
	return b.String()
}

// lineWriter calls fn for each complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func newLineWriter(fn func(string)) *lineWriter { return &lineWriter{fn: fn} }

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line without newline
		w.fn(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
