package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/backends/safetensors"
	"github.com/memscope/memscope/harness/internal/testplugins"
	"github.com/memscope/memscope/internal/npy"
)

const tinyNeoX = "../../../backends/testdata/tiny/gptneox-tiny"

// tinyRef reads a key of the tiny model's reference file.
func tinyRef(t *testing.T) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(tinyNeoX, "reference.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// memscopeReal runs memscope next to the real cpu backend plugin.
func memscopeReal(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLI(t, memscopeCmdIn(t, realBins(t), nil, args...))
}

// writeIDs writes an int64 [rows, cols] .npy.
func writeIDsNPY(t *testing.T, path string, rows, cols int, ids []int64) string {
	t.Helper()
	require.NoError(t, npy.WriteFile(path, &npy.Array{Shape: []int{rows, cols}, DType: "<i8", Ints: ids}))
	return path
}

// TestForwardAndGenerateCommands: the binary's logits and greedy tokens
// equal HF's reference for the tiny GPT-NeoX model, with and without an
// intervention, from int64 and int32 id files.
func TestForwardAndGenerateCommands(t *testing.T) {
	ref := tinyRef(t)
	ids, err := ref.Int64("input_ids")
	require.NoError(t, err)
	dir := t.TempDir()
	idsPath := writeIDsNPY(t, filepath.Join(dir, "ids.npy"), 3, 24, ids)
	for _, c := range []struct{ spec, key string }{{"none", "logits.base"}, {"attn-sc:1", "logits.sc.1"}, {"attn-zero:2", "logits.zero.2"}, {"attn-sc:1,3", "logits.sc.set"}} {
		out := filepath.Join(dir, "logits.npy")
		r := memscopeReal(t, "forward", "--model", tinyNeoX, "--ids", idsPath, "--intervene", c.spec, "--out", out)
		require.Equal(t, 0, r.code, r.stderr)
		a, err := npy.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, []int{3, 24, 384}, a.Shape)
		assert.Equal(t, "<f4", a.DType)
		got, err := a.Float32s()
		require.NoError(t, err)
		want, err := ref.Float32(c.key)
		require.NoError(t, err)
		var worst float64
		for i := range want {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		assert.LessOrEqual(t, worst, 1e-4, "%s vs %s", c.spec, c.key)
	}

	// prefixes: the first 8 tokens, as int32
	pre := make([]int32, 0, 3*8)
	for b := 0; b < 3; b++ {
		for _, v := range ids[b*24 : b*24+8] {
			pre = append(pre, int32(v))
		}
	}
	prePath := filepath.Join(dir, "prefix.npy")
	f, err := os.Create(prePath)
	require.NoError(t, err)
	require.NoError(t, npy.WriteInt32(f, []int{3, 8}, pre))
	require.NoError(t, f.Close())
	for _, c := range []struct{ spec, key string }{{"none", "greedy.base"}, {"attn-sc:2", "greedy.sc.2"}} {
		out := filepath.Join(dir, "gen.npy")
		r := memscopeReal(t, "generate", "--model", tinyNeoX, "--ids", prePath, "--new", "12", "--intervene", c.spec, "--out", out)
		require.Equal(t, 0, r.code, r.stderr)
		a, err := npy.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, []int{3, 12}, a.Shape)
		assert.Equal(t, "<i8", a.DType)
		want, err := ref.Int64(c.key)
		require.NoError(t, err)
		assert.Equal(t, want, a.Ints, c.spec)
	}
}

// stTensor is one tensor of a safetensors file being rewritten.
type stTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

func readST(t *testing.T, path string) []stTensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(raw)
	var hdr map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw[8:8+n], &hdr))
	data := raw[8+n:]
	var out []stTensor
	for name, r := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		require.NoError(t, json.Unmarshal(r, &e))
		out = append(out, stTensor{name, e.DType, e.Shape, data[e.Offsets[0]:e.Offsets[1]]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func writeST(t *testing.T, path string, ts []stTensor) {
	t.Helper()
	hdr := map[string]any{}
	var data []byte
	for _, x := range ts {
		hdr[x.name] = map[string]any{"dtype": x.dtype, "shape": x.shape, "data_offsets": []int{len(data), len(data) + len(x.data)}}
		data = append(data, x.data...)
	}
	js, err := json.Marshal(hdr)
	require.NoError(t, err)
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	buf = append(append(buf, js...), data...)
	require.NoError(t, os.WriteFile(path, buf, 0o644))
}

// brokenModel copies the tiny GPT-NeoX model into a temp folder and lets
// break damage it.
func brokenModel(t *testing.T, brk func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(tinyNeoX, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	brk(dir)
	return dir
}

func editTensors(t *testing.T, dir string, edit func([]stTensor) []stTensor) {
	p := filepath.Join(dir, "model.safetensors")
	writeST(t, p, edit(readST(t, p)))
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(b, &cfg))
	edit(cfg)
	b, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b, 0o644))
}

// TestForwardBadInput: each broken input fails with an error that names
// the file, tensor or flag, exit code 1 (2 for usage errors), no panic,
// and no output file (not even a partial or temporary one).
func TestForwardBadInput(t *testing.T) {
	dir := t.TempDir()
	ref := tinyRef(t)
	ids, err := ref.Int64("input_ids")
	require.NoError(t, err)
	good := writeIDsNPY(t, filepath.Join(dir, "ids.npy"), 3, 24, ids)
	bad := append([]int64(nil), ids...)
	bad[24+5] = 384
	badIDs := writeIDsNPY(t, filepath.Join(dir, "bad.npy"), 3, 24, bad)
	floats := filepath.Join(dir, "floats.npy")
	require.NoError(t, npy.WriteFile(floats, &npy.Array{Shape: []int{1, 2}, DType: "<f4", Floats: []float64{1, 2}}))
	flat := filepath.Join(dir, "flat.npy")
	require.NoError(t, npy.WriteFile(flat, &npy.Array{Shape: []int{3}, DType: "<i8", Ints: []int64{1, 2, 3}}))
	const qkvW = "gpt_neox.layers.2.attention.query_key_value.weight"
	const upW = "gpt_neox.layers.1.mlp.dense_h_to_4h.weight"

	cases := []struct {
		name  string
		model string
		args  []string
		code  int
		want  []string
	}{
		{"missing config", brokenModel(t, func(d string) { os.Remove(filepath.Join(d, "config.json")) }), nil, 1, []string{"config.json"}},
		{"missing weights", brokenModel(t, func(d string) { os.Remove(filepath.Join(d, "model.safetensors")) }), nil, 1, []string{"model.safetensors"}},
		{"unknown model_type", brokenModel(t, func(d string) { editConfig(t, d, func(c map[string]any) { c["model_type"] = "llama" }) }), nil, 1, []string{"llama"}},
		{"missing tensor", brokenModel(t, func(d string) {
			editTensors(t, d, func(ts []stTensor) []stTensor {
				out := ts[:0]
				for _, x := range ts {
					if x.name != qkvW {
						out = append(out, x)
					}
				}
				return out
			})
		}), nil, 1, []string{qkvW}},
		{"shape mismatch", brokenModel(t, func(d string) {
			editTensors(t, d, func(ts []stTensor) []stTensor {
				for i := range ts {
					if ts[i].name == upW {
						ts[i].shape = []int{64, 256}
					}
				}
				return ts
			})
		}), nil, 1, []string{upW, "[64 256]", "[256 64]"}},
		{"unsupported dtype", brokenModel(t, func(d string) {
			editTensors(t, d, func(ts []stTensor) []stTensor {
				for i := range ts {
					if ts[i].name == upW {
						ts[i].dtype = "I32"
					}
				}
				return ts
			})
		}), nil, 1, []string{upW, "I32"}},
		{"truncated weights", brokenModel(t, func(d string) {
			p := filepath.Join(d, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-1000], 0o644)
		}), nil, 1, []string{"model.safetensors"}},
		{"corrupt header", brokenModel(t, func(d string) {
			p := filepath.Join(d, "model.safetensors")
			b, _ := os.ReadFile(p)
			copy(b[8:], "{garbage")
			os.WriteFile(p, b, 0o644)
		}), nil, 1, []string{"model.safetensors"}},
		{"token id outside vocab", tinyNeoX, []string{"--ids", badIDs}, 2, []string{"bad.npy", " 1, position 5: token id 384"}},
		{"block does not exist", tinyNeoX, []string{"--intervene", "attn-sc:9"}, 2, []string{"--intervene", "block 9"}},
		{"malformed spec", tinyNeoX, []string{"--intervene", "attn-sc:x"}, 2, []string{"--intervene", `"x"`}},
		{"each is a sweep", tinyNeoX, []string{"--intervene", "attn-sc:each"}, 2, []string{"each"}},
		{"float ids", tinyNeoX, []string{"--ids", floats}, 1, []string{"floats.npy", "<f4"}},
		{"1-D ids", tinyNeoX, []string{"--ids", flat}, 1, []string{"flat.npy", "2-D"}},
		{"missing ids", tinyNeoX, []string{"--ids", filepath.Join(dir, "nope.npy")}, 1, []string{"nope.npy"}},
		{"no --model", "", nil, 2, []string{"--model"}},
		{"no such model folder", filepath.Join(dir, "nomodel"), nil, 1, []string{"nomodel"}},
		{"unknown backend", tinyNeoX, []string{"--backend", "tpu"}, 2, []string{"--backend", `unknown backend "tpu"`}},
	}
	for _, c := range cases {
		for _, sub := range []string{"forward", "generate"} {
			t.Run(sub+"/"+c.name, func(t *testing.T) {
				outDir := t.TempDir()
				out := filepath.Join(outDir, "out.npy")
				args := []string{sub, "--ids", good, "--out", out}
				if c.model != "" {
					args = append(args, "--model", c.model)
				}
				if sub == "generate" {
					args = append(args, "--new", "3")
				}
				args = append(args, c.args...) // later flags win
				r := memscopeReal(t, args...)
				assert.Equal(t, c.code, r.code, "stderr: %s", r.stderr)
				assert.NotContains(t, r.stderr, "panic")
				assert.NotContains(t, r.stderr, "goroutine ")
				for _, w := range c.want {
					assert.Contains(t, r.stderr, w)
				}
				entries, err := os.ReadDir(outDir)
				require.NoError(t, err)
				assert.Empty(t, entries, "nothing may be left in the output folder")
			})
		}
	}

	// usage errors of the commands themselves
	outDir := t.TempDir()
	for _, args := range [][]string{
		{"generate", "--model", tinyNeoX, "--ids", good, "--out", filepath.Join(outDir, "x.npy"), "--new", "0"},
		{"forward", "--model", tinyNeoX, "--ids", good, "--out", filepath.Join(dir, "no", "such", "x.npy")},
		{"forward", "--model", tinyNeoX, "--ids", good},
		{"forward", "--model", tinyNeoX, "--ids", good, "--out", outDir},
		{"forward", "--model", tinyNeoX, "--ids", good, "--out", filepath.Join(outDir, "x.npy"), "extra"},
		{"forward", "--bogus"},
		{"forward", "--model", tinyNeoX, "--ids", good, "--out", filepath.Join(outDir, "x.npy"), "--backend", " "},
	} {
		r := memscopeReal(t, args...)
		assert.Equal(t, 2, r.code, fmt.Sprint(args, r.stderr))
	}
	entries, err := os.ReadDir(outDir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

// TestHostLinksNoEngine: memscope reaches models only through backend
// plugins; its binary links no compute engine (nor OpenBLAS through one).
func TestHostLinksNoEngine(t *testing.T) {
	out, err := exec.Command(testplugins.GoTool(), "list", "-deps", "github.com/memscope/memscope/harness/cmd/memscope").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		for _, engine := range []string{"github.com/memscope/memscope/backends/cpu", "gorgonia.org/", "gonum.org/v1/netlib", "github.com/memscope/memscope/backends/lm"} {
			assert.False(t, strings.HasPrefix(dep, engine), "memscope links %s", dep)
		}
	}
}
