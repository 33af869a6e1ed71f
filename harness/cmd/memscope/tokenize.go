package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/memscope/memscope/backends/tokenizer"
)

func init() { rootCmd.AddCommand(newTokenizeCmd()) }

func newTokenizeCmd() *cobra.Command {
	var modelDir, tokenizerFile string
	cmd := &cobra.Command{
		Use:   "tokenize (--model DIR | --tokenizer FILE)",
		Short: "Tokenize JSON lines from stdin with a model's tokenizer",
		Long: `tokenize reads JSON lines from stdin, each an object with a "text" string, and writes
each object back on stdout with an "ids" list added: the token ids of the text, exactly as
Hugging Face tokenizers gives them without special tokens (add_special_tokens=False, as
lm-evaluation-harness encodes for GPT-2, GPT-Neo and GPT-NeoX/Pythia). Other fields are kept
in order; an existing "ids" field is replaced. Blank lines are skipped.

The tokenizer is read from a model folder (tokenizer.json, else vocab.json + merges.txt)
or from a tokenizer file.`,
		Example: `  echo '{"text": "Hello world", "id": 7}' | memscope tokenize --model harness/embedded/memorizer/model
  {"text":"Hello world","id":7,"ids":[41,456,80,955]}

  memscope tokenize --tokenizer gpt2/vocab.json < docs.jsonl > docs.tok.jsonl`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("tokenize takes no arguments (got %q): the texts come on stdin", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var tok *tokenizer.Tokenizer
			var err error
			switch {
			case modelDir != "" && tokenizerFile != "":
				return usagef("give either --model or --tokenizer, not both")
			case modelDir != "":
				tok, err = tokenizer.Load(modelDir)
			case tokenizerFile != "":
				tok, err = tokenizer.LoadFile(tokenizerFile)
			default:
				return usagef("give --model DIR (a Hugging Face model folder) or --tokenizer FILE (tokenizer.json or vocab.json)")
			}
			if err != nil {
				return err
			}
			in := cmd.InOrStdin()
			if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				fmt.Fprintln(cmd.ErrOrStderr(), `memscope tokenize: reading JSON lines like {"text": "..."} from the terminal; end with Ctrl-D`)
			}
			return tokenizeLines(tok, in, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&modelDir, "model", "", "model `DIR` holding tokenizer.json or vocab.json + merges.txt")
	cmd.Flags().StringVar(&tokenizerFile, "tokenizer", "", "tokenizer `FILE`: tokenizer.json, or vocab.json with merges.txt beside it")
	return cmd
}

// jsonField is one member of an input object, kept raw so that it is
// written back unchanged.
type jsonField struct {
	key string
	raw json.RawMessage
}

type tokenizeLine struct {
	fields []jsonField
	text   string
}

// tokenizeLines streams in → out in batches, so that EncodeBatch can use
// every core while memory stays bounded.
func tokenizeLines(tok *tokenizer.Tokenizer, in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriterSize(out, 1<<20)
	const maxBatchLines, maxBatchBytes = 4096, 8 << 20
	var batch []tokenizeLine
	var texts []string
	batchBytes := 0
	flush := func() {
		ids := tok.EncodeBatch(texts)
		for i, l := range batch {
			writeTokenized(w, l.fields, ids[i])
		}
		batch, texts, batchBytes = batch[:0], texts[:0], 0
	}
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read stdin: %w", err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			l, perr := parseTokenizeLine(line)
			if perr != nil {
				// Lines before the bad one are written, as a stream
				// filter would have written them.
				flush()
				if werr := w.Flush(); werr != nil {
					return fmt.Errorf("write stdout: %w", werr)
				}
				return fmt.Errorf("stdin line %d: %w", lineNo, perr)
			}
			batch, texts = append(batch, l), append(texts, l.text)
			batchBytes += len(line)
			if len(batch) >= maxBatchLines || batchBytes >= maxBatchBytes {
				flush()
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	flush()
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

func parseTokenizeLine(line []byte) (tokenizeLine, error) {
	var l tokenizeLine
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return l, errors.New(`not a JSON object; want {"text": "..."}`)
	}
	hasText := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return l, fmt.Errorf("malformed JSON: %w", err)
		}
		key := t.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return l, fmt.Errorf("malformed JSON: %w", err)
		}
		if key == "text" {
			if err := json.Unmarshal(raw, &l.text); err != nil {
				return l, fmt.Errorf(`"text" must be a string, got %s`, clipJSON(raw))
			}
			hasText = true
		}
		l.fields = append(l.fields, jsonField{key, raw})
	}
	if _, err := dec.Token(); err != nil {
		return l, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return l, errors.New("more than one JSON value on the line")
	}
	if !hasText {
		return l, errors.New(`no "text" field`)
	}
	return l, nil
}

func clipJSON(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

// writeTokenized writes the object back with "ids" added (or replacing an
// "ids" field the input had).
func writeTokenized(w *bufio.Writer, fields []jsonField, ids []int32) {
	w.WriteByte('{')
	wroteIDs := false
	n := 0
	sep := func() {
		if n > 0 {
			w.WriteByte(',')
		}
		n++
	}
	for _, f := range fields {
		if f.key == "ids" {
			if wroteIDs {
				continue // a repeated "ids" key
			}
			sep()
			w.WriteString(`"ids":`)
			writeIDs(w, ids)
			wroteIDs = true
			continue
		}
		sep()
		writeJSONString(w, f.key)
		w.WriteByte(':')
		w.Write(f.raw)
	}
	if !wroteIDs {
		sep()
		w.WriteString(`"ids":`)
		writeIDs(w, ids)
	}
	w.WriteString("}\n")
}

func writeIDs(w *bufio.Writer, ids []int32) {
	var buf [12]byte
	w.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			w.WriteByte(',')
		}
		w.Write(strconv.AppendInt(buf[:0], int64(id), 10))
	}
	w.WriteByte(']')
}

func writeJSONString(w *bufio.Writer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
