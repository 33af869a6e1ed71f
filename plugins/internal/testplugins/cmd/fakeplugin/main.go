// Command fakeplugin serves the fake backend or the fake task of package
// testplugins, chosen by its binary name: memscope-task-* serves the task,
// anything else the backend. Only the plugins package's tests build it.
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/plugins/internal/testplugins"
)

func main() {
	name := filepath.Base(os.Args[0])
	if strings.HasPrefix(name, "memscope-task-") {
		plugins.ServeTask(&testplugins.Task{Log: plugins.PluginLogger("fake-task")})
	}
	plugins.ServeBackend(&testplugins.Backend{Log: plugins.PluginLogger("fake-backend")})
}
