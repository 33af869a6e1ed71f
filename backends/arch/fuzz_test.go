package arch

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no config.json panics or hangs the parser, and whatever it
// accepts passes Validate.
func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{
		"../testdata/tiny/gptneox-tiny/config.json",
		"../testdata/tiny/gptneo-tiny/config.json",
	} {
		if b, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			f.Add(b)
		}
	}
	f.Add(neox(map[string]any{"rope_parameters": map[string]any{"rope_type": "default", "rope_theta": 1e4}}))
	f.Add([]byte(`{"model_type":"gpt_neo","num_layers":2,"attention_types":[[["global","local","global","local"],4611686018427387904]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "config.json")
		if err != nil {
			return
		}
		if err := Validate(c); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		if c.HeadDim()*c.NumHeads != c.HiddenSize {
			t.Fatalf("head dim")
		}
	})
}
