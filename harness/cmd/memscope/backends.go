package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/memscope/memscope/harness/pluginhost"
	"github.com/memscope/memscope/plugins"
)

var backendsOpts pluginListFlags

var backendsCmd = &cobra.Command{
	Use:   "backends",
	Short: "List the installed backend plugins: version, architectures, dtypes, intervention kinds",
	Long: `Backends starts each installed backend plugin briefly and lists its capabilities:
the model architectures it loads, the compute dtypes it takes (memscope run --dtype),
and the intervention kinds it applies (memscope run --interventions); below the
table, what does its math on this machine (for cpu: the OpenBLAS kernel set and
how it was chosen; OPENBLAS_CORETYPE overrides it). Runs record the same line.`,
	Args: noArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		return backendsList(cmd.Context(), os.Stdout, &backendsOpts)
	},
}

func init() {
	f := backendsCmd.Flags()
	f.StringArrayVar(&backendsOpts.pluginDirs, "plugin-dir", nil, "look for plugins in `DIR` first (also $"+pluginhost.EnvPluginDir+")")
	f.BoolVar(&backendsOpts.json, "json", false, "print JSON instead of a table")
	f.SetNormalizeFunc(runNormalizeFlag)
	rootCmd.AddCommand(backendsCmd)
}

type backendEntry struct {
	Name         string                `json:"name"`
	Path         string                `json:"path"`
	Capabilities *plugins.Capabilities `json:"capabilities,omitempty"`
	Error        string                `json:"error,omitempty"`
}

func backendsList(ctx context.Context, w io.Writer, o *pluginListFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	defer plugins.CleanupAll()
	found := pluginhost.Installed(plugins.KindBackend, pluginhost.SearchDirs(o.pluginDirs))
	if len(found) == 0 {
		return fmt.Errorf("no backend plugins found (memscope looks for memscope-backend-* in --plugin-dir, $%s, the memscope executable's folder and $PATH; `go tool task build` puts them in bin/)", pluginhost.EnvPluginDir)
	}
	log := pluginListLogger()
	var entries []backendEntry
	failed := 0
	for _, f := range found {
		e := backendEntry{Name: f.Name, Path: f.Path}
		b, proc, err := pluginhost.StartBackend(f.Path, f.Name, 0, log)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, pluginListTimeout)
			var caps plugins.Capabilities
			caps, err = b.Capabilities(cctx)
			cancel()
			proc.Kill()
			if err == nil {
				e.Capabilities = &caps
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
		writeBackendsTable(w, entries)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d backend plugins failed to describe themselves", failed, len(entries))
	}
	return nil
}

// writeBackendsTable prints one row per backend, then what each one
// computes with on this machine.
func writeBackendsTable(w io.Writer, entries []backendEntry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tVERSION\tARCHITECTURES\tDTYPES\tINTERVENTIONS")
	var compute []string
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\terror: %s\n", e.Name, pluginFirstLine(e.Error))
			continue
		}
		c := e.Capabilities
		if c.Unavailable != "" {
			// Installed but unable to run here (a GPU backend without a
			// GPU): not a failure; the reason is long, so it goes below.
			fmt.Fprintf(tw, "%s\t%s\t-\t-\tunavailable on this machine (see below)\n", e.Name, c.Version)
			compute = append(compute, e.Name+" is unavailable: "+c.Unavailable)
			continue
		}
		kinds := make([]string, len(c.InterventionKinds))
		for i, k := range c.InterventionKinds {
			kinds[i] = string(k)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, c.Version, strings.Join(c.Architectures, ","),
			strings.Join(c.DTypes, ","), strings.Join(kinds, ","))
		if c.Compute != "" {
			compute = append(compute, e.Name+" computes with "+c.Compute)
		}
	}
	tw.Flush()
	if len(compute) > 0 {
		fmt.Fprintln(w)
		for _, line := range compute {
			fmt.Fprintln(w, line)
		}
	}
}
