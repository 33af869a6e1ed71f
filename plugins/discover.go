package plugins

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Plugin binaries are named memscope-backend-NAME and memscope-task-NAME.
const (
	backendPrefix = "memscope-backend-"
	taskPrefix    = "memscope-task-"
)

// BackendBinary is the file name of backend NAME's plugin binary.
func BackendBinary(name string) string { return backendPrefix + name + exeSuffix() }

// TaskBinary is the file name of task NAME's plugin binary.
func TaskBinary(name string) string { return taskPrefix + name + exeSuffix() }

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// Found is a plugin binary found by Discover.
type Found struct {
	Kind string // KindBackend or KindTask
	Name string // "cpu", "piqa"
	Path string
}

// parseBinary splits a plugin binary's file name into kind and name.
func parseBinary(file string) (kind, name string, ok bool) {
	file = strings.TrimSuffix(file, exeSuffix())
	switch {
	case strings.HasPrefix(file, backendPrefix):
		kind, name = KindBackend, strings.TrimPrefix(file, backendPrefix)
	case strings.HasPrefix(file, taskPrefix):
		kind, name = KindTask, strings.TrimPrefix(file, taskPrefix)
	default:
		return "", "", false
	}
	return kind, name, name != ""
}

// displayName is a plugin's name in messages: "backend cpu", "task piqa".
func displayName(kind, path string) string {
	_, name, ok := parseBinary(filepath.Base(path))
	if !ok {
		name = strings.TrimSuffix(filepath.Base(path), exeSuffix())
	}
	return kind + " " + name
}

// Discover lists the plugin binaries in dirs (not recursively): executable
// files (or links to them) whose names start with memscope-backend- or
// memscope-task-. When a name is in several dirs the first dir wins, so
// put the most specific dir first. Missing dirs are skipped. The result is
// sorted by kind, then name.
func Discover(dirs ...string) []Found {
	seen := map[[2]string]bool{}
	var found []Found
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			kind, name, ok := parseBinary(e.Name())
			if !ok || seen[[2]string{kind, name}] {
				continue
			}
			path := filepath.Join(dir, e.Name())
			fi, err := os.Stat(path) // follows links
			if err != nil || !fi.Mode().IsRegular() || (runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0) {
				continue
			}
			seen[[2]string{kind, name}] = true
			found = append(found, Found{Kind: kind, Name: name, Path: path})
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Kind != found[j].Kind {
			return found[i].Kind < found[j].Kind
		}
		return found[i].Name < found[j].Name
	})
	return found
}
