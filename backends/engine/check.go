package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// Check reports negative limits.
func (l Limits) Check() error {
	if l.MaxBatchTokens < 0 || l.MaxCacheBytes < 0 {
		return fmt.Errorf("engine limits: MaxBatchTokens and MaxCacheBytes must be ≥ 0 (0: the defaults)")
	}
	return nil
}

// CheckIntervention validates iv for a model of cfg on an engine that
// applies the given kinds.
func CheckIntervention(cfg modelconfig.Config, iv intervention.Intervention, kinds []intervention.Kind) error {
	if iv.IsBaseline() {
		return nil
	}
	if !slices.Contains(kinds, iv.Kind) {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = string(k)
		}
		return fmt.Errorf("intervention kind %q is not supported by this engine (it applies %s)", iv.Kind, strings.Join(names, ", "))
	}
	return iv.Validate(cfg.NumLayers)
}

// CheckTokenIDs reports the first id outside the vocabulary; what names
// the sequence in the message ("sequence 2", "generate request 5").
func CheckTokenIDs(cfg modelconfig.Config, what string, ids []int32) error {
	V := cfg.VocabSize
	for p, id := range ids {
		if id < 0 || int(id) >= V {
			return fmt.Errorf("%s, position %d: token id %d is outside the model's vocabulary (0-%d); were the ids made with this model's tokenizer?", what, p, id, V-1)
		}
	}
	return nil
}

// CheckSequence validates one teacher-forced sequence: ScoreFrom in
// [1, len], at most MaxPositions inputs (the last token is only a
// target), ids in the vocabulary.
func CheckSequence(cfg modelconfig.Config, what string, s Sequence) error {
	n := len(s.Tokens)
	if s.ScoreFrom < 1 || s.ScoreFrom > n {
		return fmt.Errorf("%s: ScoreFrom %d is outside [1, %d] (the first token has no prediction to score)", what, s.ScoreFrom, n)
	}
	if n-1 > cfg.MaxPositions {
		return fmt.Errorf("%s has %d tokens: %d model inputs (all but the final target), more than the model's %d positions (max_position_embeddings)", what, n, n-1, cfg.MaxPositions)
	}
	return CheckTokenIDs(cfg, what, s.Tokens)
}

// CheckPrefix validates one greedy generation: a non-empty prefix of ids
// in the vocabulary, newTokens ≥ 0, and room for prefix + newTokens − 1
// positions (the last new token is never fed back, as in HF generate).
func CheckPrefix(cfg modelconfig.Config, what string, prefix []int32, newTokens int) error {
	if len(prefix) == 0 {
		return fmt.Errorf("%s is empty; greedy generation needs at least one token", what)
	}
	if newTokens < 0 {
		return fmt.Errorf("%s: cannot generate %d tokens", what, newTokens)
	}
	if n := len(prefix) + newTokens - 1; n > cfg.MaxPositions {
		return fmt.Errorf("%s: %d tokens + %d new need %d positions (the last new token is not fed back), more than the model's %d (max_position_embeddings)", what, len(prefix), newTokens, n, cfg.MaxPositions)
	}
	return CheckTokenIDs(cfg, what, prefix)
}

// CheckBatch validates a batch of sequences of one length T (Logits,
// hidden states) and returns T (0 for no sequences).
func CheckBatch(cfg modelconfig.Config, ids [][]int32) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	T := len(ids[0])
	for i, s := range ids {
		if len(s) != T {
			return 0, fmt.Errorf("sequence %d has %d tokens but sequence 0 has %d; all sequences must have the same length", i, len(s), T)
		}
		if T > cfg.MaxPositions {
			return 0, fmt.Errorf("sequence %d has %d tokens, more than the model's %d positions (max_position_embeddings)", i, T, cfg.MaxPositions)
		}
		if err := CheckTokenIDs(cfg, fmt.Sprintf("sequence %d", i), s); err != nil {
			return 0, err
		}
	}
	if T == 0 {
		return 0, fmt.Errorf("sequences are empty")
	}
	return T, nil
}

// CheckScore validates Score's sequences (CheckSequence on each, named
// "sequence i").
func CheckScore(cfg modelconfig.Config, seqs []Sequence) error {
	for i, s := range seqs {
		if err := CheckSequence(cfg, fmt.Sprintf("sequence %d", i), s); err != nil {
			return err
		}
	}
	return nil
}

// CheckGenerate validates Generate's prefixes and token count
// (CheckPrefix on each, named "prefix i").
func CheckGenerate(cfg modelconfig.Config, prefixes [][]int32, newTokens int) error {
	if newTokens < 0 {
		return fmt.Errorf("cannot generate %d tokens", newTokens)
	}
	for i, pre := range prefixes {
		if err := CheckPrefix(cfg, fmt.Sprintf("prefix %d", i), pre, newTokens); err != nil {
			return err
		}
	}
	return nil
}
