// Package testplugins builds plugin binaries for the harness's
// integration tests: the fakes in this folder and, where they exist, the
// real plugins of the repository.
package testplugins

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

const module = "github.com/memscope/memscope"

// Fakes maps the fake plugins' binary names to their packages.
var Fakes = map[string]string{
	"memscope-backend-fake": module + "/harness/internal/testplugins/backendfake",
	"memscope-task-fakemc":  module + "/harness/internal/testplugins/taskfakemc",
	"memscope-task-fakegen": module + "/harness/internal/testplugins/taskfakegen",
}

// GoTool is the go command of the running toolchain.
func GoTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Build builds binaries (name → package path) into dir, run from the
// module (any folder inside it). Packages are built by as few go build
// invocations as their folder names allow, so they compile and link in
// parallel.
func Build(dir string, bins map[string]string) error {
	// go build -o DIR/ names each binary after its package folder; group
	// the packages so those names are unique within an invocation.
	var groups []map[string]string // base name → binary name, per invocation
	pkgOf := map[string]string{}
	for name, pkg := range bins {
		base := path.Base(pkg)
		placed := false
		for _, g := range groups {
			if _, taken := g[base]; !taken {
				g[base], placed = name, true
				break
			}
		}
		if !placed {
			groups = append(groups, map[string]string{base: name})
		}
		pkgOf[name] = pkg
	}
	for i, g := range groups {
		tmp := filepath.Join(dir, fmt.Sprintf(".build-%d", i))
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		args := []string{"build", "-o", tmp + string(filepath.Separator)}
		for _, name := range g {
			args = append(args, pkgOf[name])
		}
		cmd := exec.Command(GoTool(), args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		for base, name := range g {
			if err := os.Rename(filepath.Join(tmp, base+exeSuffix()), filepath.Join(dir, name)); err != nil {
				return err
			}
		}
		os.RemoveAll(tmp)
	}
	return nil
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// BuildFakes builds the fake plugins into dir.
func BuildFakes(dir string) error { return Build(dir, Fakes) }

// ModuleRoot is the repository root (the folder of go.mod).
func ModuleRoot() (string, error) {
	out, err := exec.Command(GoTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the memscope module")
	}
	return filepath.Dir(gomod), nil
}

// Real returns the package of a repository plugin by binary name
// (memscope-backend-cpu → ./backends/cpu/plugin, memscope-task-piqa →
// ./tasks/piqa), and whether its folder exists.
func Real(binary string) (string, bool) {
	root, err := ModuleRoot()
	if err != nil {
		return "", false
	}
	var rel string
	switch {
	case strings.HasPrefix(binary, "memscope-backend-"):
		rel = filepath.Join("backends", strings.TrimPrefix(binary, "memscope-backend-"), "plugin")
	case strings.HasPrefix(binary, "memscope-task-"):
		rel = filepath.Join("tasks", strings.TrimPrefix(binary, "memscope-task-"))
	default:
		return "", false
	}
	if !fileExists(filepath.Join(root, rel)) {
		return "", false
	}
	return module + "/" + filepath.ToSlash(rel), true
}

// ScratchDir is a folder for built binaries that lives as long as the
// test binary's own folder: `go test` removes that folder after the run,
// so nothing is left behind and no TestMain is needed.
func ScratchDir(name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(exe), name)
	return dir, os.MkdirAll(dir, 0o755)
}
