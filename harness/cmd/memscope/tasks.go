package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/memscope/memscope/harness/pluginhost"
	"github.com/memscope/memscope/plugins"
)

type pluginListFlags struct {
	pluginDirs []string
	json       bool
}

var tasksOpts pluginListFlags

var tasksCmd = &cobra.Command{
	Use:   "tasks",
	Short: "List the installed task plugins: version, category, output type, metrics and options",
	Long: `Tasks starts each installed task plugin briefly and lists what it describes: its
version, category (language, reasoning, memorization), output type, metrics, and
the options memscope run takes as --task-opt TASK.KEY=VALUE.`,
	Args: noArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		return tasksList(cmd.Context(), os.Stdout, &tasksOpts)
	},
}

func init() {
	f := tasksCmd.Flags()
	f.StringArrayVar(&tasksOpts.pluginDirs, "plugin-dir", nil, "look for plugins in `DIR` first (also $"+pluginhost.EnvPluginDir+")")
	f.BoolVar(&tasksOpts.json, "json", false, "print JSON instead of a table")
	f.SetNormalizeFunc(runNormalizeFlag)
	rootCmd.AddCommand(tasksCmd)
}

// pluginListLogger shows plugins' warnings and errors only.
func pluginListLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "memscope", Level: hclog.Warn, Output: os.Stderr, DisableTime: true})
}

// pluginListTimeout bounds how long a listed plugin may take to describe itself.
const pluginListTimeout = 30 * time.Second

type taskEntry struct {
	plugins.TaskInfo
	Path  string `json:"path"`
	Error string `json:"error,omitempty"`
}

func tasksList(ctx context.Context, w io.Writer, o *pluginListFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	defer plugins.CleanupAll()
	found := pluginhost.Installed(plugins.KindTask, pluginhost.SearchDirs(o.pluginDirs))
	if len(found) == 0 {
		return fmt.Errorf("no task plugins found (memscope looks for memscope-task-* in --plugin-dir, $%s, the memscope executable's folder and $PATH; `go tool task build` puts them in bin/)", pluginhost.EnvPluginDir)
	}
	log := pluginListLogger()
	var entries []taskEntry
	failed := 0
	for _, f := range found {
		e := taskEntry{Path: f.Path}
		e.Name = f.Name
		task, proc, err := pluginhost.StartTask(f.Path, log)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, pluginListTimeout)
			var info plugins.TaskInfo
			info, err = task.Describe(cctx)
			cancel()
			proc.Kill()
			if err == nil {
				e.TaskInfo = info
			}
		}
		if err != nil {
			e.Error = err.Error()
			failed++
		}
		entries = append(entries, e)
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return err
		}
	} else {
		tasksPrint(w, entries)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d task plugins failed to describe themselves", failed, len(entries))
	}
	return nil
}

func tasksPrint(w io.Writer, entries []taskEntry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tVERSION\tCATEGORY\tOUTPUT\tMETRICS")
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\terror: %s\n", e.Name, pluginFirstLine(e.Error))
			continue
		}
		metrics := make([]string, len(e.Metrics))
		for i, m := range e.Metrics {
			arrow := "↑"
			if !m.HigherIsBetter {
				arrow = "↓"
			}
			metrics[i] = m.Name + arrow
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Version, e.Category, e.OutputType, strings.Join(metrics, " "))
	}
	tw.Flush()
	fmt.Fprintln(w, "\n↑/↓: a higher/lower score is better for the task itself (exact_match↑: more text reproduced).")
	fmt.Fprintln(w, "The leaderboard marks ability metrics the same way; its memorization tables instead name which way is less memorized.")
	any := false
	for _, e := range entries {
		if len(e.Options) == 0 && e.Description == "" {
			continue
		}
		if !any {
			fmt.Fprintln(w, "\nOptions (memscope run --task-opt TASK.KEY=VALUE):")
			any = true
		}
		fmt.Fprintf(w, "\n  %s", e.Name)
		if e.Description != "" {
			fmt.Fprintf(w, ": %s", e.Description)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range e.Options {
			def := o.Default
			if def == "" {
				def = "-"
			}
			fmt.Fprintf(tw, "    %s.%s\t(default %s)\t%s\n", e.Name, o.Name, def, o.Help)
		}
		tw.Flush()
	}
}

func pluginFirstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
