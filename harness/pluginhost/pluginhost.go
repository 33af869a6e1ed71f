// Package pluginhost finds the installed plugin binaries and starts them
// the way every memscope command should: the search path (--plugin-dir,
// $MEMSCOPE_PLUGIN_DIR, the memscope executable's folder, $PATH), the
// backend's environment (BLAS threads), the host logger.
package pluginhost

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/memscope/memscope/plugins"
)

// EnvPluginDir names extra plugin folders (a list like $PATH).
const EnvPluginDir = "MEMSCOPE_PLUGIN_DIR"

// SearchDirs is the plugin search path, most specific first: the given
// folders (--plugin-dir), $MEMSCOPE_PLUGIN_DIR, the folder of the running
// executable (bin/ after `go tool task build`), then $PATH.
func SearchDirs(flagDirs []string) []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		for _, x := range dirs {
			if x == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	for _, d := range flagDirs {
		add(d)
	}
	for _, d := range filepath.SplitList(os.Getenv(EnvPluginDir)) {
		add(d)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		add(filepath.Dir(exe))
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		add(d)
	}
	return dirs
}

// Installed lists the plugins of one kind (plugins.KindBackend or
// plugins.KindTask) found in dirs.
func Installed(kind string, dirs []string) []plugins.Found {
	var out []plugins.Found
	for _, f := range plugins.Discover(dirs...) {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// Names lists the names of found plugins.
func Names(found []plugins.Found) []string {
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.Name
	}
	return out
}

// NotInstalledError is a plugin the search path does not have.
type NotInstalledError struct {
	Kind      string
	Name      string
	Installed []string
	Dirs      []string
}

func (e *NotInstalledError) Error() string {
	have := "none are installed"
	if len(e.Installed) > 0 {
		have = "installed: " + strings.Join(e.Installed, ", ")
	}
	bin := plugins.TaskBinary(e.Name)
	if e.Kind == plugins.KindBackend {
		bin = plugins.BackendBinary(e.Name)
	}
	return fmt.Sprintf("unknown %s %q (%s). memscope looks for %s in --plugin-dir, $%s, the memscope executable's folder and $PATH; `go tool task build` puts every plugin in bin/",
		e.Kind, e.Name, have, bin, EnvPluginDir)
}

// Resolve finds each named plugin of a kind. Every unknown name is
// reported in one error.
func Resolve(kind string, names []string, dirs []string) (map[string]string, error) {
	found := Installed(kind, dirs)
	paths := map[string]string{}
	for _, f := range found {
		paths[f.Name] = f.Path
	}
	out := map[string]string{}
	for _, n := range names {
		p, ok := paths[n]
		if !ok {
			return nil, &NotInstalledError{Kind: kind, Name: n, Installed: Names(found), Dirs: dirs}
		}
		out[n] = p
	}
	return out, nil
}

// threadEnv names, per backend, the variables that set its thread count
// and must be in its environment when it starts: the cpu backend's
// OpenBLAS (and an OpenMP build of it) sizes its thread pool when the
// library loads, before any request. A backend not listed gets its thread
// count from the load request only.
var threadEnv = map[string][]string{
	"cpu": {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"},
}

// BackendEnv is the environment a backend plugin gets on top of the
// host's: its thread variables set from --threads (0 leaves the
// libraries' defaults). It is the one place to add backend-specific
// variables.
func BackendEnv(backend string, threads int) []string {
	var env []string
	if threads > 0 {
		n := strconv.Itoa(threads)
		for _, v := range threadEnv[backend] {
			env = append(env, v+"="+n)
		}
	}
	return env
}

// deviceEnv names, per GPU backend, the variable that selects its GPU.
var deviceEnv = map[string]string{
	"cuda": "MEMSCOPE_CUDA_DEVICE",
}

// DeviceEnv selects GPU n (memscope run --device) for a GPU backend;
// nothing for device 0 or a backend without GPUs.
func DeviceEnv(backend string, n int) []string {
	v, ok := deviceEnv[backend]
	if n <= 0 || !ok {
		return nil
	}
	return []string{v + "=" + strconv.Itoa(n)}
}

// StartBackend starts the backend plugin at path with BackendEnv and any
// extra variables (DeviceEnv).
func StartBackend(path, name string, threads int, log hclog.Logger, extraEnv ...string) (plugins.Backend, *plugins.Process, error) {
	return plugins.StartBackend(path, plugins.StartOptions{Logger: log, Env: append(BackendEnv(name, threads), extraEnv...)})
}

// StartTask starts the task plugin at path.
func StartTask(path string, log hclog.Logger) (plugins.Task, *plugins.Process, error) {
	return plugins.StartTask(path, plugins.StartOptions{Logger: log})
}
