package engine

import (
	"fmt"

	"github.com/memscope/memscope/backends/modelconfig"
	"github.com/memscope/memscope/intervention"
)

// Request checks every engine makes the same way, with the same messages.

// CheckIntervention validates iv against the model for an engine that
// applies attention short-circuit and zero-ablation (engine names the
// engine in the message).
func CheckIntervention(engine string, cfg modelconfig.Config, iv intervention.Intervention) error {
	if iv.IsBaseline() {
		return nil
	}
	switch iv.Kind {
	case intervention.AttnShortCircuit, intervention.AttnZero:
	default:
		return fmt.Errorf("%s engine: intervention kind %q is not supported (it runs %s and %s)", engine, iv.Kind, intervention.AttnShortCircuit, intervention.AttnZero)
	}
	return iv.Validate(cfg.NumLayers)
}

// CheckTokens checks that every id is in the vocabulary; seq names the
// sequence in messages.
func CheckTokens(cfg modelconfig.Config, seq int, ids []int32) error {
	V := cfg.VocabSize
	for p, id := range ids {
		if id < 0 || int(id) >= V {
			return fmt.Errorf("sequence %d, position %d: token id %d is outside the model's vocabulary (0-%d); were the ids made with this model's tokenizer?", seq, p, id, V-1)
		}
	}
	return nil
}

// CheckScore validates Score's sequences.
func CheckScore(cfg modelconfig.Config, seqs []Sequence) error {
	for i, s := range seqs {
		n := len(s.Tokens)
		if s.ScoreFrom < 1 || s.ScoreFrom > n {
			return fmt.Errorf("sequence %d: ScoreFrom %d is outside [1, %d] (the first token has no prediction to score)", i, s.ScoreFrom, n)
		}
		if n-1 > cfg.MaxPositions {
			return fmt.Errorf("sequence %d has %d tokens: %d model inputs (all but the final target), more than the model's %d positions (max_position_embeddings)", i, n, n-1, cfg.MaxPositions)
		}
		if err := CheckTokens(cfg, i, s.Tokens); err != nil {
			return err
		}
	}
	return nil
}

// CheckGenerate validates Generate's prefixes and token count.
func CheckGenerate(cfg modelconfig.Config, prefixes [][]int32, newTokens int) error {
	if newTokens < 0 {
		return fmt.Errorf("cannot generate %d tokens", newTokens)
	}
	for i, pre := range prefixes {
		if len(pre) == 0 {
			return fmt.Errorf("prefix %d is empty; greedy generation needs at least one token", i)
		}
		// The last new token is never fed back, so it needs no position.
		if len(pre)+newTokens-1 > cfg.MaxPositions {
			return fmt.Errorf("prefix %d: %d tokens + %d new need %d positions (the last new token is not fed back), more than the model's %d (max_position_embeddings)", i, len(pre), newTokens, len(pre)+newTokens-1, cfg.MaxPositions)
		}
		if err := CheckTokens(cfg, i, pre); err != nil {
			return err
		}
	}
	return nil
}

// CheckBatch validates a batch of equal-length sequences (Logits) and
// returns their length (0 for no sequences).
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
		if err := CheckTokens(cfg, i, s); err != nil {
			return 0, err
		}
	}
	if T == 0 {
		return 0, fmt.Errorf("sequences are empty")
	}
	return T, nil
}

// Groups splits sequences of the given sizes, in order, into runs whose
// total stays within budget (a larger single one runs alone).
func Groups(sizes []int, budget int) [][2]int {
	var out [][2]int
	start, sum := 0, 0
	for i, n := range sizes {
		if i > start && sum+n > budget {
			out = append(out, [2]int{start, i})
			start, sum = i, 0
		}
		sum += n
	}
	if start < len(sizes) {
		out = append(out, [2]int{start, len(sizes)})
	}
	return out
}
