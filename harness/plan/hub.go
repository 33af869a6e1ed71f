package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Hugging Face cache environment variables, as huggingface_hub reads them.
const (
	EnvHFHubCache = "HF_HUB_CACHE"
	EnvHFHome     = "HF_HOME"
)

// HFCacheDir is the Hugging Face hub cache folder: $HF_HUB_CACHE, else
// $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (huggingface_hub's order).
func HFCacheDir() string {
	if d := os.Getenv(EnvHFHubCache); d != "" {
		return d
	}
	if d := os.Getenv("HUGGINGFACE_HUB_CACHE"); d != "" { // the name before huggingface_hub 0.15
		return d
	}
	if d := os.Getenv(EnvHFHome); d != "" {
		return filepath.Join(d, "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".cache", "huggingface", "hub")
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// hubRepoRe matches a hub model name: "org/name" or "name", then
// optionally "@revision".
var hubRepoRe = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?$`)

// looksLikeHubName reports whether s can name a hub model.
func looksLikeHubName(s string) bool {
	return hubRepoRe.MatchString(s) && !strings.Contains(s, "..")
}

var commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
var shortCommitRe = regexp.MustCompile(`^[0-9a-f]{7,39}$`)

// HubModel is a model resolved in the Hugging Face cache.
type HubModel struct {
	Repo     string // "EleutherAI/pythia-1.4b"
	Revision string // as asked: "main", "step143000", a commit
	Commit   string // the snapshot's commit
	Dir      string // the snapshot folder
}

// ResolveHub finds repo@revision in the Hugging Face cache at cacheDir,
// offline: refs/<revision> names the commit, snapshots/<commit> holds the
// files. A revision may also be a commit or its first 7+ hex digits.
func ResolveHub(cacheDir, spec string) (HubModel, error) {
	repo, rev, hasRev := strings.Cut(spec, "@")
	if !hasRev || rev == "" {
		rev = "main"
	}
	m := HubModel{Repo: repo, Revision: rev}
	download := fmt.Sprintf("huggingface-cli download %s", repo)
	if rev != "main" {
		download += " --revision " + rev
	}
	download += " --include config.json '*.safetensors*' 'tokenizer*'"
	folder := filepath.Join(cacheDir, "models--"+strings.ReplaceAll(repo, "/", "--"))
	if st, err := os.Stat(folder); err != nil || !st.IsDir() {
		return m, fmt.Errorf("%s is not in the Hugging Face cache (%s; set %s or %s to look elsewhere): download it first with `%s`, or give the model's folder",
			repo, cacheDir, EnvHFHubCache, EnvHFHome, download)
	}
	snapshots := filepath.Join(folder, "snapshots")
	switch {
	case commitRe.MatchString(rev):
		m.Commit = rev
	default:
		b, err := os.ReadFile(filepath.Join(folder, "refs", filepath.FromSlash(rev)))
		switch {
		case err == nil:
			m.Commit = strings.TrimSpace(string(b))
		case errors.Is(err, fs.ErrNotExist) && shortCommitRe.MatchString(rev):
			var found []string
			entries, _ := os.ReadDir(snapshots)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), rev) {
					found = append(found, e.Name())
				}
			}
			if len(found) > 1 {
				return m, fmt.Errorf("%s@%s: %d cached snapshots start with %s (%s); give more of the commit", repo, rev, len(found), rev, strings.Join(found, ", "))
			}
			if len(found) == 1 {
				m.Commit = found[0]
			}
		}
		if m.Commit == "" {
			have := cachedRefs(folder)
			return m, fmt.Errorf("%s: revision %s is not in the Hugging Face cache (cached: %s): download it first with `%s`",
				repo, rev, strings.Join(have, ", "), download)
		}
	}
	m.Dir = filepath.Join(snapshots, m.Commit)
	if _, err := os.Stat(filepath.Join(m.Dir, "config.json")); err != nil {
		return m, fmt.Errorf("%s@%s: the cached snapshot %s has no config.json (a partial download?): download it again with `%s`",
			repo, rev, m.Dir, download)
	}
	return m, nil
}

// cachedRefs lists the revisions a cached repo has: its refs, then
// snapshots no ref names (as short commits).
func cachedRefs(folder string) []string {
	var out []string
	named := map[string]bool{}
	refs := filepath.Join(folder, "refs")
	filepath.WalkDir(refs, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(refs, path)
		out = append(out, filepath.ToSlash(rel))
		if b, err := os.ReadFile(path); err == nil {
			named[strings.TrimSpace(string(b))] = true
		}
		return nil
	})
	sort.Strings(out)
	entries, _ := os.ReadDir(filepath.Join(folder, "snapshots"))
	for _, e := range entries {
		if !named[e.Name()] && commitRe.MatchString(e.Name()) {
			out = append(out, e.Name()[:7])
		}
	}
	if len(out) == 0 {
		return []string{"nothing"}
	}
	return out
}

// snapshotRef names the revision a snapshot folder is cached under:
// "main" when refs/main points at it, else another ref that does, else
// its short commit.
func snapshotRef(repoFolder, commit string) string {
	var refs []string
	root := filepath.Join(repoFolder, "refs")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == commit {
			rel, _ := filepath.Rel(root, path)
			refs = append(refs, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(refs)
	for _, r := range refs {
		if r == "main" {
			return "main"
		}
	}
	if len(refs) > 0 {
		return refs[0]
	}
	return commit[:7]
}
