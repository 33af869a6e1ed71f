package lm

import (
	"github.com/hashicorp/go-hclog"

	"github.com/memscope/memscope/backends/tokenizer"
)

// HFTokenizer loads the model folder's Hugging Face tokenizer
// (tokenizer.json, or vocab.json + merges.txt), warning on log when there
// is none: token-id requests still work without one.
func HFTokenizer(log hclog.Logger) TokenizerLoader {
	return func(dir string) (Tokenizer, error) {
		tok, err := tokenizer.Load(dir)
		if err != nil {
			log.Warn("no tokenizer; only token-id requests will work", "error", err)
			return nil, err
		}
		return tok, nil
	}
}
