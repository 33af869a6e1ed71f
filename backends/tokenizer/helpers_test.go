package tokenizer

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Test data (gzipped copies of /work/shared files, see testdata/README.md)
// is unpacked once into a temporary folder laid out like model folders:
//
//	neox/tokenizer.json         GPT-NeoX-20B (Pythia)
//	gpt2/tokenizer.json         GPT-2, tokenizer.json form
//	gpt2pair/vocab.json+merges.txt  GPT-2, the vocab.json + merges.txt form
var unpacked string

// memorizerDir holds the embedded default model's tokenizer.json.
const memorizerDir = "../../harness/embedded/memorizer/model"

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "memscope-tokenizer-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for src, dst := range map[string]string{
			"gpt-neox-20b/tokenizer.json.gz": "neox/tokenizer.json",
			"gpt2/tokenizer.json.gz":         "gpt2/tokenizer.json",
			"gpt2/vocab.json.gz":             "gpt2pair/vocab.json",
			"gpt2/merges.txt.gz":             "gpt2pair/merges.txt",
		} {
			if err := gunzipFile(filepath.Join("testdata", src), filepath.Join(dir, dst)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		unpacked = dir
		return m.Run()
	}()
	os.Exit(code)
}

func gunzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", src, err)
	}
	return out.Close()
}

// readGzipLines returns the lines of a gzipped JSON-lines file under testdata.
func readGzipLines(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) > 0 {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// tokref is one line of the tokref fixtures: HF's ids and decoded text.
type tokref struct {
	Text    string  `json:"text"`
	IDs     []int32 `json:"ids"`
	Decoded string  `json:"decoded"`
}

var tokrefCache sync.Map

func loadTokref(t testing.TB, name string) []tokref {
	t.Helper()
	if v, ok := tokrefCache.Load(name); ok {
		return v.([]tokref)
	}
	var rows []tokref
	for i, line := range readGzipLines(t, "tokref/"+name+".jsonl.gz") {
		var r tokref
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s line %d: %v", name, i+1, err)
		}
		rows = append(rows, r)
	}
	tokrefCache.Store(name, rows)
	return rows
}

var loaded sync.Map

// testTokenizer loads (once) one of the test tokenizers by name: neox,
// gpt2, gpt2pair or memorizer.
func testTokenizer(t testing.TB, name string) *Tokenizer {
	t.Helper()
	if v, ok := loaded.Load(name); ok {
		return v.(*Tokenizer)
	}
	dir := filepath.Join(unpacked, name)
	if name == "memorizer" {
		dir = memorizerDir
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Store(name, tok)
	return tok
}
