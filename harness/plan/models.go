package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Model is one --model folder and the name it has in results.
type Model struct {
	Dir  string // absolute path
	Name string // short display name, unique within a run
}

var snapshotDir = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Models checks the --model folders (each must exist and hold a
// config.json), removes duplicates and names them: the folder's base name,
// "Org/name" for a Hugging Face cache snapshot
// (…/models--Org--name/snapshots/<sha>), and the full path where two
// folders would otherwise share a name.
func Models(dirs []string) ([]Model, error) {
	var out []Model
	seen := map[string]bool{}
	for _, d := range dirs {
		if strings.TrimSpace(d) == "" {
			return nil, fmt.Errorf("--model: empty path")
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", d, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("--model %s: no such folder (give a Hugging Face model folder with config.json and safetensors weights)", d)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--model %s: not a folder (give the Hugging Face model folder, not a file in it)", d)
		}
		if _, err := os.Stat(filepath.Join(abs, "config.json")); err != nil {
			return nil, fmt.Errorf("--model %s: no config.json in it (is it a Hugging Face model folder?)", d)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		out = append(out, Model{Dir: abs, Name: modelName(abs)})
	}
	count := map[string]int{}
	for _, m := range out {
		count[m.Name]++
	}
	for i, m := range out {
		if count[m.Name] > 1 {
			out[i].Name = m.Dir
		}
	}
	return out, nil
}

func modelName(abs string) string {
	base := filepath.Base(abs)
	if snapshotDir.MatchString(base) {
		parent := filepath.Dir(abs)
		repo := filepath.Base(filepath.Dir(parent))
		if filepath.Base(parent) == "snapshots" && strings.HasPrefix(repo, "models--") {
			return strings.Replace(strings.TrimPrefix(repo, "models--"), "--", "/", 1)
		}
	}
	return base
}
