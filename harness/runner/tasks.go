package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/memscope/memscope/plugins"
)

// preparedTask is a started task plugin with its requests built.
type preparedTask struct {
	cfg      TaskConfig
	info     plugins.TaskInfo
	task     plugins.Task
	proc     Proc
	opts     plugins.TaskOptions
	reqs     []plugins.Request
	digest   string // hash of the requests
	confHash string // hash of name, version and options
}

// prepareTasks starts each task plugin once, checks its options and builds
// its requests once for the whole run.
func (r *run) prepareTasks(ctx context.Context) error {
	for _, tc := range r.cfg.Tasks {
		t := &preparedTask{cfg: tc}
		r.tasks = append(r.tasks, t)
		task, proc, err := r.deps.StartTask(tc.Name)
		if err != nil {
			return taskError(tc.Name, "start", err)
		}
		t.task, t.proc = task, proc
		if t.info, err = task.Describe(ctx); err != nil {
			return taskError(tc.Name, "describe", err)
		}
		if err := checkOptions(t.info, tc); err != nil {
			return &InputError{err}
		}
		t.opts = plugins.TaskOptions{Limit: r.cfg.Limit, Docs: r.cfg.Docs, Seed: r.cfg.Seed, Options: copyOptions(tc.Options)}
		start := time.Now()
		if t.reqs, err = task.Requests(ctx, t.opts); err != nil {
			err = taskError(tc.Name, "build requests", err)
			if ctx.Err() == nil && !errors.Is(err, plugins.ErrPluginExited) {
				// Requests reads only the options and the data: what
				// fails there is the user's to fix (a missing file, a bad
				// option value, --docs past the end of the data).
				return &InputError{err}
			}
			return err
		}
		if len(t.reqs) == 0 {
			return &InputError{fmt.Errorf("task %s: no requests (are --docs/--limit outside its data?)", tc.Name)}
		}
		if t.digest, err = requestsDigest(t.reqs); err != nil {
			return fmt.Errorf("task %s: %w", tc.Name, err)
		}
		t.confHash = taskConfigHash(t.info, t.opts)
		r.log.Info("task ready", "task", tc.Name, "version", t.info.Version, "requests", len(t.reqs), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func checkOptions(info plugins.TaskInfo, tc TaskConfig) error {
	known := map[string]bool{}
	var names []string
	for _, o := range info.Options {
		known[o.Name] = true
		names = append(names, o.Name)
	}
	var unknown []string
	for k := range tc.Options {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	have := "it takes no options"
	if len(names) > 0 {
		have = "its options are " + strings.Join(names, ", ")
	}
	return fmt.Errorf("--task-opt: task %s has no option %s (%s; see memscope tasks)", tc.Name, strings.Join(unknown, ", "), have)
}

func copyOptions(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
