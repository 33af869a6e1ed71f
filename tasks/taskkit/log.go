package taskkit

import (
	"fmt"

	"github.com/memscope/memscope/plugins"
)

// Logf logs one informational line for task through plugins.PluginLogger,
// which the harness shows in its own log.
func Logf(task, format string, args ...any) {
	plugins.PluginLogger(task).Info(fmt.Sprintf(format, args...))
}
