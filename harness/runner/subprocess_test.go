package runner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/harness/internal/testplugins"
	"github.com/memscope/memscope/harness/pluginhost"
	"github.com/memscope/memscope/plugins"
)

// These tests drive real plugin subprocesses (the fakes, built once per
// test binary) through the plugins package.

var (
	subOnce sync.Once
	subDir  string
	subErr  error
)

func fakeBins(t *testing.T) string {
	t.Helper()
	subOnce.Do(func() {
		if subDir, subErr = testplugins.ScratchDir("fake-plugins"); subErr == nil {
			subErr = testplugins.BuildFakes(subDir)
		}
	})
	require.NoError(t, subErr)
	return subDir
}

// subprocessDeps starts the fakes from dir; procs collects the backend
// processes started.
func subprocessDeps(t *testing.T, dir string, procs *[]*plugins.Process) Deps {
	return Deps{
		StartBackend: func(name string) (plugins.Backend, Proc, error) {
			b, p, err := pluginhost.StartBackend(filepath.Join(dir, plugins.BackendBinary(name)), name, 1, nil)
			if err != nil {
				return nil, nil, err
			}
			*procs = append(*procs, p)
			return b, p, nil
		},
		StartTask: func(name string) (plugins.Task, Proc, error) {
			tk, p, err := pluginhost.StartTask(filepath.Join(dir, plugins.TaskBinary(name)), nil)
			if err != nil {
				return nil, nil, err
			}
			return tk, p, nil
		},
	}
}

func TestSubprocessKilledBackendThenResume(t *testing.T) {
	dir := fakeBins(t)
	e := newEnv(t, 3)

	ref := t.TempDir()
	var refProcs []*plugins.Process
	_, err := Run(context.Background(), e.config(ref, "attn-sc:each"), subprocessDeps(t, dir, &refProcs))
	require.NoError(t, err)
	require.Len(t, refProcs, 1)
	assert.True(t, refProcs[0].Exited(), "the backend is killed and reaped at the end")

	// Kill the backend process after the first finished cell.
	out := t.TempDir()
	var procs []*plugins.Process
	deps := subprocessDeps(t, dir, &procs)
	killed := false
	deps.AfterCell = func(ev CellEvent) {
		if !killed {
			killed = true
			ev.Backend.Kill()
		}
	}
	_, err = Run(context.Background(), e.config(out, "attn-sc:each"), deps)
	require.Error(t, err)
	assert.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "plugin backend fake crashed while running model model0, intervention none, task fakegen")
	var ce *CellError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Finished)
	require.Len(t, procs, 1)
	assert.True(t, procs[0].Exited())

	// Re-run: the first cell is resumed, the rest computed, same tables.
	procs = nil
	sum, err := Run(context.Background(), e.config(out, "attn-sc:each"), subprocessDeps(t, dir, &procs))
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Resumed)
	assert.Equal(t, 7, sum.Computed)
	m1, d1, r1 := tables(t, ref)
	m2, d2, r2 := tables(t, out)
	assert.Equal(t, m1, m2)
	assert.Equal(t, d1, d2)
	assert.Equal(t, r1, r2)
}

func TestSubprocessCrashingBackend(t *testing.T) {
	dir := fakeBins(t)
	e := newEnv(t, 2)
	t.Setenv("MEMSCOPE_FAKE_CRASH_AT_CALL", "3") // the plugin exits in the middle of its 3rd call
	calls := filepath.Join(t.TempDir(), "calls.log")
	t.Setenv("MEMSCOPE_FAKE_CALL_LOG", calls)
	c := openCache(t)
	out := t.TempDir()
	var procs []*plugins.Process
	deps := subprocessDeps(t, dir, &procs)
	deps.Cache = c
	_, err := Run(context.Background(), e.config(out, "attn-sc:each"), deps)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	// Chunks of 8 requests cut between documents of 3 choices: 9 per call.
	assert.Contains(t, err.Error(), "plugin backend fake crashed while running model model0, intervention none, task fakemc")
	assert.Contains(t, err.Error(), "exit status 3")
	require.Len(t, procs, 1)
	assert.True(t, procs[0].Exited())

	require.NoError(t, os.Unsetenv("MEMSCOPE_FAKE_CRASH_AT_CALL"))
	n, err := c.Len()
	require.NoError(t, err)
	assert.Equal(t, 18, n, "the two chunks finished before the crash are cached")
	require.NoError(t, os.Remove(calls))
	sum, err := Run(context.Background(), e.config(out, "attn-sc:each"), deps)
	require.NoError(t, err)
	assert.Equal(t, 0, sum.Resumed)
	assert.Equal(t, 6, sum.Computed)
	data, err := os.ReadFile(calls)
	require.NoError(t, err)
	asked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		k, err := strconv.Atoi(f[len(f)-1])
		require.NoError(t, err)
		asked += k
	}
	assert.Equal(t, 3*(36+10)-18, asked, "cached answers were asked again")
}
