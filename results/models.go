package results

import (
	"encoding/json"
	"fmt"
)

// ExtraModels is the RunInfo.Extra key under which memscope run records
// where each model came from (a JSON array of ModelSource).
const ExtraModels = "models"

// ModelSource is where one model of a run came from.
type ModelSource struct {
	Name     string `json:"name"`               // the model column's value
	Source   string `json:"source"`             // "folder", "hub" or "embedded"
	Dir      string `json:"dir"`                // the folder that was loaded
	Repo     string `json:"repo,omitempty"`     // Hugging Face repo, for hub names and folders in the hub cache
	Revision string `json:"revision,omitempty"` // as asked ("main", "step143000")
	Commit   string `json:"commit,omitempty"`   // the snapshot's commit
}

// Describe says where the model comes from: "folder /abs/path",
// "hub Org/name@rev (commit 0123abc)", "embedded".
func (m ModelSource) Describe() string {
	switch {
	case m.Source == "embedded":
		return "embedded"
	case m.Repo != "":
		rev := m.Revision
		if rev == "" {
			rev = "main"
		}
		s := fmt.Sprintf("hub %s@%s", m.Repo, rev)
		if m.Commit != "" && m.Commit != rev {
			s += " (commit " + m.Commit[:min(7, len(m.Commit))] + ")"
		}
		if m.Source != "hub" {
			s += ", folder " + m.Dir
		}
		return s
	}
	return "folder " + m.Dir
}

// EncodeModelSources renders sources for RunInfo.Extra[ExtraModels].
func EncodeModelSources(ms []ModelSource) string {
	b, _ := json.Marshal(ms) // plain strings always marshal
	return string(b)
}

// ModelSources reads the run's model sources, by model name (none for runs
// that did not record them).
func ModelSources(info RunInfo) map[string]ModelSource {
	out := map[string]ModelSource{}
	var ms []ModelSource
	if json.Unmarshal([]byte(info.Extra[ExtraModels]), &ms) != nil {
		return out
	}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}
