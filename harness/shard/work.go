package shard

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/memscope/memscope/plugins"
)

// Counter counts the tokens a model's tokenizer makes of a text.
type Counter func(text string) int

// ApproxCounter estimates tokens without a tokenizer: one per 4 bytes,
// about what GPT-2-style BPE makes of English text.
func ApproxCounter(text string) int { return (len(text) + 3) / 4 }

// RequestTokens estimates the tokens forwarded through the model to answer
// rq, generation steps included: a log-likelihood pair forwards its context
// and continuation (at most maxLen tokens, lm-eval's truncation; 0: no
// limit), a rolling request every token of its sequence, a generation its
// prefix and each new token but the last (which is never fed back).
func RequestTokens(rq plugins.Request, count Counter, maxLen int) int64 {
	if count == nil {
		count = ApproxCounter
	}
	var n int
	switch rq.Kind() {
	case plugins.KindLoglikelihood:
		n = count(rq.Loglikelihood.Context) + count(rq.Loglikelihood.Continuation)
		if rq.Loglikelihood.Context == "" {
			n++ // conditioned on end-of-text
		}
		if maxLen > 0 {
			n = min(n, maxLen)
		}
	case plugins.KindLoglikelihoodRolling:
		if rq.Rolling.IDs != nil {
			n = len(rq.Rolling.IDs)
		} else {
			n = count(rq.Rolling.Text)
		}
	case plugins.KindGenerateTokens:
		n = len(rq.Generate.Prefix) + rq.Generate.NewTokens - 1
	}
	return int64(max(n, 1))
}

// DocTokens sums RequestTokens per document, in the order the documents
// first appear in reqs.
func DocTokens(reqs []plugins.Request, count Counter, maxLen int) []Doc {
	var out []Doc
	at := map[int]int{}
	for _, rq := range reqs {
		i, ok := at[rq.DocIndex]
		if !ok {
			i = len(out)
			at[rq.DocIndex] = i
			out = append(out, Doc{Index: rq.DocIndex})
		}
		out[i].Tokens += RequestTokens(rq, count, maxLen)
	}
	return out
}

// ModelShape is what the split needs to know of a model before loading it.
type ModelShape struct {
	Layers int // transformer blocks (for the interventions of attn-sc:each)
	// TokenCost is the relative cost of forwarding one token: the
	// parameters of the blocks, in millions (at least 1).
	TokenCost int64
	MaxLen    int // longest sequence (0: unknown)
}

// ReadModelShape reads a Hugging Face config.json (GPT-NeoX or GPT-Neo
// names). Only the layer count is required; a config without widths costs
// 1 per token.
func ReadModelShape(modelDir string) (ModelShape, error) {
	path := filepath.Join(modelDir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return ModelShape{}, fmt.Errorf("read %s: %w", path, err)
	}
	var c struct {
		NumHiddenLayers  *int `json:"num_hidden_layers"` // GPT-NeoX
		NumLayers        *int `json:"num_layers"`        // GPT-Neo
		HiddenSize       int  `json:"hidden_size"`
		IntermediateSize *int `json:"intermediate_size"`
		MaxPositions     int  `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return ModelShape{}, fmt.Errorf("read %s: %w", path, err)
	}
	s := ModelShape{MaxLen: c.MaxPositions, TokenCost: 1}
	switch {
	case c.NumHiddenLayers != nil:
		s.Layers = *c.NumHiddenLayers
	case c.NumLayers != nil:
		s.Layers = *c.NumLayers
	}
	if s.Layers <= 0 {
		return ModelShape{}, fmt.Errorf("read %s: no layer count (num_hidden_layers or num_layers)", path)
	}
	if h := int64(c.HiddenSize); h > 0 {
		inter := 4 * h
		if c.IntermediateSize != nil && *c.IntermediateSize > 0 {
			inter = int64(*c.IntermediateSize)
		}
		// Attention (4h²) and MLP (2·h·inter) weights of every block.
		s.TokenCost = max(1, int64(s.Layers)*(4*h*h+2*h*inter)/1_000_000)
	}
	return s, nil
}
