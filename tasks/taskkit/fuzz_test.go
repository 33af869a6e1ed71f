package taskkit

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memSource is a Source over bytes in memory.
func memSource(name string, data []byte) Source {
	return Source{Name: name, open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// seedFile reads the head of a data file of the repository (first n
// bytes; whole lines).
func seedFile(t testing.TB, path string, n int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > n {
		b = b[:n]
		if i := bytes.LastIndexByte(b, '\n'); i > 0 {
			b = b[:i+1]
		}
	}
	return b
}

// FuzzSource: any bytes, plain, gzip or bzip2 (told apart by magic), read
// line by line or whole: lines come out UTF-8 and without line endings,
// or there is an error; never a panic.
func FuzzSource(f *testing.F) {
	lambada := seedFile(f, "../lambada_openai/data/lambada_test.jsonl", 2000)
	f.Add(lambada)
	f.Add(gzipped(lambada))
	f.Add(seedFile(f, "../hellaswag/data/hellaswag_val_full.txt.bz2", 1<<20))
	f.Add([]byte("BZh9 not bzip2\r\n\xef\xbb\xbfline\n"))
	f.Add([]byte("\x1f\x8b broken gzip"))
	f.Add([]byte("caf\xe9\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := memSource("fuzz", data)
		err := src.EachLine(func(_ int, text []byte) error {
			if bytes.ContainsAny(text, "\n") || bytes.HasSuffix(text, []byte("\r")) {
				t.Fatalf("line %q keeps its ending", text)
			}
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz") && !strings.HasPrefix(err.Error(), "read fuzz") {
			t.Fatalf("error does not name the source: %v", err)
		}
		_, _ = src.ReadAll()
	})
}

// FuzzJSONLines: token-id data (JSON lines with "tokens", or .npy) and the
// JSON-lines records of the benchmarks: rows come out valid, or an error.
func FuzzJSONLines(f *testing.F) {
	canaries := seedFile(f, "../../harness/embedded/memorizer/canaries.jsonl", 3000)
	f.Add(canaries)
	f.Add(seedFile(f, "../../harness/embedded/memorizer/canaries.npy", 5000))
	f.Add(seedFile(f, "../piqa/data/valid.jsonl", 2000))
	f.Add([]byte(`{"tokens": [1, null, 3]}` + "\n" + `{"tokens": [-1]}` + "\n" + `null` + "\n"))
	f.Add([]byte(`{"tokens": [1e400, 2.5, 9223372036854775808]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := LoadTokenRows(memSource("fuzz.jsonl", data))
		if err == nil {
			for i, r := range rows.Rows {
				for _, id := range r {
					if id < 0 {
						t.Fatalf("row %d: negative id %d", i, id)
					}
				}
				_ = rows.Where(i)
				if !rows.NPY {
					_, _ = rows.Objects[i].Label("kind")
				}
			}
		}
		_ = memSource("fuzz.jsonl", data).EachJSONLine(func(_ int, obj JSONObject) error {
			_, _ = obj.String("text")
			_, _ = obj.Strings("choices")
			_, _ = obj.Int("gold")
			return nil
		})
	})
}

// The line cap: an endless line (a decompression bomb) is refused with a
// message, not read into memory.
func TestLineCap(t *testing.T) {
	saved := MaxLineBytes
	MaxLineBytes = 1 << 20
	defer func() { MaxLineBytes = saved }()
	long := gzipped(bytes.Repeat([]byte("a"), 3<<20))
	err := memSource("big.gz", long).EachLine(func(int, []byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "big.gz:1: a line longer than 1 MiB") {
		t.Fatalf("got %v", err)
	}
	savedFile := MaxFileBytes
	MaxFileBytes = 1 << 20
	defer func() { MaxFileBytes = savedFile }()
	_, err = memSource("big.gz", long).ReadAll()
	if err == nil || !strings.Contains(err.Error(), "big.gz: more than 1 MiB (decompressed)") {
		t.Fatalf("got %v", err)
	}
	p := filepath.Join(t.TempDir(), "ok.txt")
	if err := os.WriteFile(p, []byte("a\nb"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []string
	if err := FileSource(p).EachLine(func(_ int, b []byte) error { lines = append(lines, string(b)); return nil }); err != nil || strings.Join(lines, ",") != "a,b" {
		t.Fatal(lines, err)
	}
}
