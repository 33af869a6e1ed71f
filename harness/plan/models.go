package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/memscope/memscope/results"
)

// Model sources (Model.Source).
const (
	SourceFolder   = "folder"   // a folder given by path
	SourceHub      = "hub"      // a Hugging Face repo resolved in the local hub cache
	SourceEmbedded = "embedded" // memscope's embedded model
)

// Model is one --model and the name it has in results.
type Model struct {
	Dir    string // absolute path of the folder that is loaded
	Name   string // display name, unique within a run
	Source string // SourceFolder, SourceHub or SourceEmbedded
	// Repo, Revision and Commit say which hub snapshot Dir is, for a hub
	// name and for a folder inside the hub cache.
	Repo, Revision, Commit string
	// Labelled is set when the user named the model (--model NAME=PATH).
	Labelled bool
}

var snapshotDir = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Models resolves the --model values and names them. Each value is
//
//   - a Hugging Face model folder (config.json, safetensors, tokenizer),
//     named by its base name, or "Org/name" (with "@revision" unless it is
//     main) for a snapshot folder of the hub cache;
//   - a hub name, "Org/name" or "Org/name@revision", found offline in the
//     Hugging Face cache (HFCacheDir) and named as written;
//   - either of them as LABEL=VALUE, named LABEL.
//
// An existing folder wins over a hub name of the same spelling.
// Duplicates (one folder twice) are dropped; two folders that would share
// a name are named by their full paths.
func Models(specs []string) ([]Model, error) {
	var out []Model
	seen := map[string]int{}
	for _, spec := range specs {
		m, err := resolveModel(spec)
		if err != nil {
			return nil, err
		}
		if i, dup := seen[m.Dir]; dup {
			if out[i].Labelled && m.Labelled && out[i].Name != m.Name {
				return nil, fmt.Errorf("--model: %s and %s are the same folder (%s); give it once", out[i].Name, m.Name, m.Dir)
			}
			continue
		}
		seen[m.Dir] = len(out)
		out = append(out, m)
	}
	count := map[string]int{}
	for _, m := range out {
		count[m.Name]++
	}
	for i, m := range out {
		if count[m.Name] > 1 {
			if m.Labelled {
				return nil, fmt.Errorf("--model: the label %s is given to two models; give each its own", m.Name)
			}
			out[i].Name = m.Dir
		}
	}
	return out, nil
}

func resolveModel(spec string) (Model, error) {
	if strings.TrimSpace(spec) == "" {
		return Model{}, fmt.Errorf("--model: empty value (give a model folder, a Hugging Face name such as EleutherAI/pythia-160m, or NAME=either)")
	}
	label, value := "", spec
	if _, err := os.Stat(spec); err != nil {
		if l, v, ok := strings.Cut(spec, "="); ok {
			label, value = strings.TrimSpace(l), v
			if label == "" || strings.TrimSpace(value) == "" {
				return Model{}, fmt.Errorf("--model %s: write NAME=FOLDER or NAME=Org/name[@revision]", spec)
			}
		}
	}
	m, err := resolveValue(value)
	if err != nil {
		return Model{}, err
	}
	if label != "" {
		m.Name, m.Labelled = label, true
	}
	return m, nil
}

func resolveValue(value string) (Model, error) {
	abs, err := filepath.Abs(value)
	if err != nil {
		return Model{}, fmt.Errorf("--model %s: %w", value, err)
	}
	st, statErr := os.Stat(abs)
	if statErr != nil {
		if looksLikeHubName(value) {
			h, err := ResolveHub(HFCacheDir(), value)
			if err != nil {
				return Model{}, fmt.Errorf("--model %s: no such folder, and %w", value, err)
			}
			return Model{Dir: h.Dir, Name: hubName(h.Repo, h.Revision), Source: SourceHub, Repo: h.Repo, Revision: h.Revision, Commit: h.Commit}, nil
		}
		return Model{}, fmt.Errorf("--model %s: no such folder (give a Hugging Face model folder with config.json and safetensors weights, or a hub name such as EleutherAI/pythia-160m)", value)
	}
	if !st.IsDir() {
		return Model{}, fmt.Errorf("--model %s: not a folder (give the Hugging Face model folder, not a file in it)", value)
	}
	if _, err := os.Stat(filepath.Join(abs, "config.json")); err != nil {
		return Model{}, fmt.Errorf("--model %s: no config.json in it (is it a Hugging Face model folder?)", value)
	}
	m := Model{Dir: abs, Name: filepath.Base(abs), Source: SourceFolder}
	if repo, folder, ok := hubSnapshot(abs); ok {
		m.Repo, m.Commit = repo, filepath.Base(abs)
		m.Revision = snapshotRef(folder, m.Commit)
		m.Name = hubName(repo, m.Revision)
	}
	return m, nil
}

// hubName is how results name a hub model: "Org/name" for main,
// "Org/name@revision" otherwise.
func hubName(repo, revision string) string {
	if revision == "" || revision == "main" {
		return repo
	}
	return repo + "@" + revision
}

// hubSnapshot recognizes a snapshot folder of the hub cache
// (…/models--Org--name/snapshots/<commit>) and returns the repo and its
// cache folder.
func hubSnapshot(abs string) (repo, folder string, ok bool) {
	if !snapshotDir.MatchString(filepath.Base(abs)) {
		return "", "", false
	}
	parent := filepath.Dir(abs)
	folder = filepath.Dir(parent)
	name := filepath.Base(folder)
	if filepath.Base(parent) != "snapshots" || !strings.HasPrefix(name, "models--") {
		return "", "", false
	}
	return strings.Replace(strings.TrimPrefix(name, "models--"), "--", "/", 1), folder, true
}

// Provenance is what results record of the model's origin.
func (m Model) Provenance() results.ModelSource {
	return results.ModelSource{Name: m.Name, Source: m.Source, Dir: m.Dir, Repo: m.Repo, Revision: m.Revision, Commit: m.Commit}
}

// Describe says where the model comes from, for logs: "folder /abs/path",
// "hub Org/name@rev (commit 0123abc)", "embedded".
func (m Model) Describe() string { return m.Provenance().Describe() }
