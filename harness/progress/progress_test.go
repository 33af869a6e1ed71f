package progress

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for mpb's render goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLinesMode(t *testing.T) {
	var buf syncBuffer
	d := New(context.Background(), &buf, Auto) // a buffer is not a terminal
	assert.False(t, d.Bars())
	d.AddCells(1)
	d.Resumed("a · none · piqa", "acc=0.400") // more cells may come: "+"
	d.AddCells(2)
	d.NoMoreCells()
	d.Resumed("m · none · piqa", "acc=0.500")
	c := d.StartCell("m · attn-sc:0 · piqa", 10, 3)
	c.Progress(5)
	c.Progress(10)
	c.Done("acc=0.600")
	d.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "[1/1+] a · none · piqa: acc=0.400 (resumed)", lines[0])
	assert.Equal(t, "[2/3] m · none · piqa: acc=0.500 (resumed)", lines[1])
	assert.Regexp(t, regexp.MustCompile(`^\[3/3\] m · attn-sc:0 · piqa: acc=0.600 \([0-9.]+m?s\)$`), lines[2])
}

func TestLinesModeReportsLongCells(t *testing.T) {
	var buf syncBuffer
	d := New(context.Background(), &buf, Lines)
	d.LineEvery = time.Millisecond
	d.AddCells(1)
	c := d.StartCell("none · lambada_openai", 200, 50)
	time.Sleep(5 * time.Millisecond)
	c.Progress(100)
	c.Done("acc=0.5")
	d.Close()
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Regexp(t, regexp.MustCompile(`^      none · lambada_openai: 100/200 requests \(50%\), [0-9.]+ req/s, ETA [0-9a-z.]+$`), lines[0])
}

func TestBarsMode(t *testing.T) {
	var buf syncBuffer
	d := New(context.Background(), &buf, Bars)
	require.True(t, d.Bars())
	d.AddCells(1)
	c := d.StartCell("tiny · none · memorization", 100, 0)
	var wg sync.WaitGroup
	for i := 1; i <= 4; i++ {
		wg.Go(func() { c.Progress(i * 25) }) // callbacks come from other goroutines
	}
	wg.Wait()
	d.Printf("a log line")
	c.Done("exact_match=1.000")
	d.AddCells(1)
	c2 := d.StartCell("tiny · attn-sc:0 · memorization", 4, 0)
	c2.Fail()
	d.NoMoreCells()
	d.Close()
	out := buf.String()
	assert.Contains(t, out, "a log line")
	assert.Contains(t, out, "[1/1+] tiny · none · memorization: exact_match=1.000", "another cell comes after")
	assert.Contains(t, out, "cells")
	_, err := d.Log().Write([]byte("after close\n")) // falls back to the plain output
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "after close")
}

func TestOverallBarSaysWhichTimeIsWhich(t *testing.T) {
	var buf syncBuffer
	d := New(context.Background(), &buf, Bars)
	d.AddCells(2)
	c := d.StartCell("x", 10, 0)
	c.Progress(3)
	c.Done("acc=1")
	d.Close() // stopped before the end (as on Ctrl-C): the last frame stays
	// Not "28s elapsed 7s": the first time is the ETA.
	assert.Regexp(t, `cells +1/2\+ \[[^\]]*\] +ETA [0-9a-z.]+ +elapsed`, buf.String())

	buf = syncBuffer{}
	d = New(context.Background(), &buf, Bars)
	d.AddCells(1)
	d.StartCell("y", 10, 0).Done("acc=1")
	d.NoMoreCells()
	d.Close()
	assert.Regexp(t, `cells +1/1 \[[^\]]*\] +done +elapsed`, buf.String())
}

func TestCancelStopsBars(t *testing.T) {
	var buf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	d := New(ctx, &buf, Bars)
	d.AddCells(3)
	c := d.StartCell("x", 10, 0)
	c.Progress(3)
	cancel()
	c.Fail()
	d.Close() // must not hang
}

// A cell of one long request (a book scored in rolling windows) shows how
// far into it the backend is, not 0/1 until it ends.
func TestProgressWithinLongRequests(t *testing.T) {
	var buf syncBuffer
	d := New(context.Background(), &buf, Lines)
	d.LineEvery = time.Millisecond
	d.AddCells(1)
	c := d.StartCell("none · heldout_perplexity", 1, 0)
	time.Sleep(2 * time.Millisecond)
	c.ProgressFraction(0.25)
	time.Sleep(2 * time.Millisecond)
	c.ProgressFraction(0.5)
	c.Done("nll_per_token=3.2")
	d.Close()
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Regexp(t, `^      none · heldout_perplexity: 0\.2/1 requests \(25%\), [0-9.]+ req/s, ETA [0-9a-z.]+$`, lines[0])
	assert.Regexp(t, `^      none · heldout_perplexity: 0\.5/1 requests \(50%\), `, lines[1])

	buf = syncBuffer{}
	d = New(context.Background(), &buf, Bars)
	d.AddCells(1)
	c = d.StartCell("none · heldout_perplexity", 1, 0)
	c.ProgressFraction(0.5)
	time.Sleep(400 * time.Millisecond) // a few frames
	c.Done("nll_per_token=3.2")
	d.Close()
	assert.Regexp(t, `none · heldout_perplexity +0\.5/1`, buf.String(), "the bar shows half of the request done")
}

// A cell the response cache answered whole says so, not "(0s)".
func TestCellFromTheCache(t *testing.T) {
	var buf syncBuffer
	d := New(context.Background(), &buf, Lines)
	d.AddCells(2)
	d.StartCell("none · piqa", 40, 40).Done("acc=0.5")
	d.StartCell("attn-sc:0 · piqa", 40, 39).Done("acc=0.4")
	d.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "[1/2+] none · piqa: acc=0.5 (from the cache)", lines[0])
	assert.Regexp(t, `^\[2/2\+\] attn-sc:0 · piqa: acc=0.4 \([0-9.]+m?s\)$`, lines[1])
}
