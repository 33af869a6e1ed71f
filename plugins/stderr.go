package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// stderrTail keeps the end of a plugin's raw stderr, for error messages
// when the plugin dies: its last few lines, and what a crash printed —
// the first line of a Go panic, a fatal error or a fatal signal
// ("SIGSEGV: segmentation violation", which the Go runtime prints for a
// fault in C code), the lines that say where the signal hit, and the
// first frames of the crashing goroutine (which the rest of the trace
// and the register dump would push out).
type stderrTail struct {
	mu    sync.Mutex
	cur   []byte
	lines []string
	crash crashTrace
}

// crashTrace is what stderrTail keeps of a crash.
type crashTrace struct {
	header  string   // "panic: …", "fatal error: …", "SIGSEGV: segmentation violation"
	details []string // "[signal SIGSEGV: … addr=0x0 pc=…]", "PC=… sigcode=…", "signal arrived during cgo execution"
	frames  []string // "cpu.logitStats (kernels_cgo.go:321)", innermost first
	state   int      // where the trace is: crashHeader, crashGoroutine, crashDone
	fn      string   // the frame whose file line comes next
}

const (
	crashHeader    = iota // after the header, before the first goroutine
	crashGoroutine        // inside the first goroutine's frames
	crashDone
)

const (
	tailLines   = 3
	tailLineMax = 500
	crashFrames = 3
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
	raw := string(t.cur)
	line := strings.TrimSpace(raw)
	t.cur = t.cur[:0]
	if t.crash.header != "" {
		t.crash.add(raw, line)
	} else if isCrashHeader(line) {
		t.crash.header = line
	}
	if line == "" {
		return
	}
	t.lines = append(t.lines, renderLogLine(line))
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// isCrashHeader recognizes the first line the Go runtime prints when a
// program dies: a panic, a fatal error, or a fatal signal it could not
// turn into a panic ("SIGSEGV: segmentation violation", "SIGBUS: bus
// error", "SIGABRT: abort").
func isCrashHeader(line string) bool {
	if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
		return true
	}
	name, _, ok := strings.Cut(line, ": ")
	if !ok || len(name) < 5 || !strings.HasPrefix(name, "SIG") {
		return false
	}
	for _, r := range name[3:] {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// add follows the trace after the header: detail lines until the first
// goroutine, then that goroutine's first frames outside the runtime.
func (c *crashTrace) add(raw, line string) {
	switch c.state {
	case crashHeader:
		switch {
		case strings.HasPrefix(line, "goroutine "):
			c.state = crashGoroutine
		case strings.HasPrefix(line, "[signal "), strings.HasPrefix(line, "PC="),
			strings.HasPrefix(line, "signal arrived"):
			if len(c.details) < 3 {
				c.details = append(c.details, line)
			}
		}
	case crashGoroutine:
		switch {
		case line == "":
			c.state = crashDone
		case strings.HasPrefix(raw, "\t"):
			if c.fn != "" && len(c.frames) < crashFrames {
				file, _, _ := strings.Cut(line, " ")
				c.frames = append(c.frames, c.fn+" ("+filepath.Base(file)+")")
			}
			c.fn = ""
		default:
			c.fn = frameName(line)
		}
	}
}

// frameName shortens a trace's function line to package.Function:
// "github.com/x/y/cpu.(*Model).f(0x1, ...)" → "cpu.(*Model).f". Runtime
// frames say nothing about where a plugin crashed: "".
func frameName(line string) string {
	if strings.HasPrefix(line, "created by ") {
		return ""
	}
	fn := line
	if i := strings.LastIndex(fn, "("); i > 0 && strings.HasSuffix(fn, ")") {
		fn = fn[:i] // the arguments
	}
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		fn = fn[i+1:]
	}
	if strings.HasPrefix(fn, "runtime.") {
		return ""
	}
	return fn
}

// summary is "" when the plugin wrote nothing. After a crash it is the
// crash's header, details and first frames; otherwise the last lines.
func (t *stderrTail) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.crash; c.header != "" {
		s := c.header
		if len(c.details) > 0 {
			s += " (" + strings.Join(c.details, "; ") + ")"
		}
		if len(c.frames) > 0 {
			s += " at " + strings.Join(c.frames, " ← ")
		}
		return s
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
