package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const memorizerModel = "../../embedded/memorizer/model"

func runTokenize(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newTokenizeCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

func TestTokenizeCommand(t *testing.T) {
	in := `{"text": "Hello world", "id": 7}` + "\n\n" +
		`{"ids": [9, 9], "text": "a<|endoftext|>b", "meta": {"k": [1, 2]}}` + "\n" +
		`{"text": ""}` // no final newline
	out, err := runTokenize(t, in, "--model", memorizerModel)
	require.NoError(t, err)
	// Ids from the memorizer's tokref fixture (HF tokenizers): "Hello world"
	// and the special token <|endoftext|> = 0 between "a" and "b".
	assert.Equal(t, `{"text":"Hello world","id":7,"ids":[41,456,80,955]}`+"\n"+
		`{"ids":[66,0,67],"text":"a<|endoftext|>b","meta":{"k": [1, 2]}}`+"\n"+
		`{"text":"","ids":[]}`+"\n", out)

	// --tokenizer gives the same result.
	out2, err := runTokenize(t, in, "--tokenizer", memorizerModel+"/tokenizer.json")
	require.NoError(t, err)
	assert.Equal(t, out, out2)
}

func TestTokenizeCommandBadInput(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{`{"text": "Hello world"}` + "\n" + `{"text": 5}`, `stdin line 2: "text" must be a string`},
		{"\n\n[1, 2]\n", "stdin line 3: not a JSON object"},
		{`{"txt": "x"}`, `stdin line 1: no "text" field`},
		{`{"text": "x"`, "stdin line 1: malformed JSON"},
		{`{"text": "x"} {"text": "y"}`, "stdin line 1: more than one JSON value"},
		{`not json`, "stdin line 1: not a JSON object"},
	} {
		out, err := runTokenize(t, c.in, "--model", memorizerModel)
		require.Error(t, err, c.in)
		assert.Contains(t, err.Error(), c.want)
		if strings.HasPrefix(c.in, `{"text": "Hello world"}`) {
			assert.Equal(t, `{"text":"Hello world","ids":[41,456,80,955]}`+"\n", out, "lines before the bad one are written")
		}
	}
}

func TestTokenizeCommandUsage(t *testing.T) {
	var ue usageError
	_, err := runTokenize(t, "")
	require.True(t, errors.As(err, &ue), "%v", err)
	assert.Contains(t, err.Error(), "--model DIR")

	_, err = runTokenize(t, "", "--model", memorizerModel, "--tokenizer", "x")
	require.True(t, errors.As(err, &ue))

	_, err = runTokenize(t, "", "--model", memorizerModel, "extra")
	require.True(t, errors.As(err, &ue))

	_, err = runTokenize(t, "", "--model", "/does/not/exist")
	require.Error(t, err)
	assert.False(t, errors.As(err, &ue), "a missing model is not a usage error")
	assert.Contains(t, err.Error(), "/does/not/exist does not exist")
}
