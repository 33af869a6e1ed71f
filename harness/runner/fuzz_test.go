package runner

import (
	"bytes"
	"crypto/sha256"
	"math"
	"testing"
	"time"

	"github.com/memscope/memscope/plugins"
)

// FuzzSavedCell: a finished-cell file in OUT/.memscope-state with any
// content (a damaged disk, a file of another memscope version) decodes or
// is an error, never a panic; one that decodes encodes back to a file
// that decodes. The checksum guards the gob body against damage, so
// bodies are also tried with a valid checksum, as a file written by
// another version would carry.
func FuzzSavedCell(f *testing.F) {
	cell := &savedCell{
		Key: "0123456789abcdef0123456789abcdef", Cell: "m · attn-sc:1 · memorization",
		Responses: []plugins.Response{
			{Generate: &plugins.GenerateResult{IDs: []int32{1, 2}, Entropies: []float32{0.5, float32(math.NaN())}, NonFinite: "logits at position 3"}},
			{Rolling: &plugins.RollingResult{LogLikelihood: -3, LogProbs: []float32{-1, -2}, Entropies: []float32{1, 1}, Greedy: []bool{true, false}}},
			{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: -0.5, IsGreedy: true, ContextTokens: 3, ContinuationTokens: 1}},
		},
		Scores: plugins.Scores{
			Docs:    []plugins.DocScore{{DocIndex: 0, Gold: -1, Prediction: -1, Metrics: map[string]float64{"exact_match": 1}}},
			Metrics: []plugins.MetricValue{{Name: "exact_match", Value: 1, Stderr: math.NaN(), N: 1, HigherIsBetter: true}},
		},
		Elapsed: 3 * time.Second,
	}
	good, err := encodeSaved(cell)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[len(savedMagic) : len(good)-sha256.Size])
	f.Add([]byte(savedMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		try := func(file []byte) {
			c, err := decodeSaved(file)
			if err != nil {
				return
			}
			again, err := encodeSaved(c)
			if err != nil {
				t.Fatalf("a decoded cell does not encode: %v", err)
			}
			if _, err := decodeSaved(again); err != nil {
				t.Fatalf("a re-encoded cell does not decode: %v", err)
			}
		}
		try(data)
		// data as the gob body of a file with a valid checksum
		var file bytes.Buffer
		file.WriteString(savedMagic)
		file.Write(data)
		sum := sha256.Sum256(data)
		file.Write(sum[:])
		try(file.Bytes())
	})
}
