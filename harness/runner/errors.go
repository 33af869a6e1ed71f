package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/plugins"
)

// CellError is a run stopped in a cell. It names the cell and the plugin
// involved; finished cells are kept for a re-run.
type CellError struct {
	Cell     plan.Cell // zero Intervention/Task when the model failed to load
	Plugin   string    // "backend cpu", "task piqa"; "" when no plugin was involved
	Finished int       // cells finished and kept before the failure
	Total    int       // cells planned so far
	Err      error
	// Interrupted is the run's context error when the run was cancelled
	// (Ctrl-C): whatever the call reported, that is why it stopped.
	Interrupted error
}

func (e *CellError) Error() string {
	where := "model " + e.Cell.Model
	if e.Cell.Task != "" {
		where = e.Cell.String()
	}
	var b strings.Builder
	switch {
	case e.Interrupted != nil || errors.Is(e.Err, context.Canceled):
		fmt.Fprintf(&b, "interrupted while running %s", where)
	case errors.Is(e.Err, plugins.ErrPluginExited):
		fmt.Fprintf(&b, "%s crashed while running %s: %v", e.pluginName(), where, e.Err)
	default:
		fmt.Fprintf(&b, "%s: %v", where, e.Err)
	}
	return b.String()
}

func (e *CellError) pluginName() string {
	if e.Plugin == "" {
		return "a plugin"
	}
	return "plugin " + e.Plugin
}

func (e *CellError) Unwrap() []error {
	if e.Interrupted != nil {
		return []error{e.Err, e.Interrupted}
	}
	return []error{e.Err}
}

// InputError is a run refused because of what the user asked for (an
// unknown task option, a dtype or intervention the backend cannot do, a
// block the model does not have), found once the plugins described
// themselves.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }

func (e *InputError) Unwrap() error { return e.Err }

// taskError names the task and the step that failed, unless the error
// already names the task: a plugin's errors do ("task piqa: Requests: …",
// "start task piqa (…): …"), and saying it twice only buries the message.
func taskError(name, step string, err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "task "+name+": ") || strings.HasPrefix(msg, "start task "+name+" ") {
		return err
	}
	return fmt.Errorf("task %s: %s: %w", name, step, err)
}
