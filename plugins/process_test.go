package plugins_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
	"github.com/memscope/memscope/plugins/internal/testplugins"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestPluginExitMidCall(t *testing.T) {
	remote, p := startBackend(t, plugins.StartOptions{})
	pid := p.PID()
	start := time.Now()
	_, err := remote.Loglikelihood(ctxTimeout(t, 30*time.Second), intervention.Baseline(),
		[]plugins.LoglikelihoodRequest{{Context: "fine"}, {Context: testplugins.Exit}}, nil)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	msg := err.Error()
	assert.Contains(t, msg, "backend fake: Loglikelihood: plugin process exited")
	assert.Contains(t, msg, "exit status 3")
	// Even with no host logger, the plugin's last error line is in the error.
	assert.Contains(t, msg, testplugins.LogExiting)
	assert.Less(t, elapsed, 5*time.Second)
	t.Logf("error after %v: %v", elapsed, err)

	assert.True(t, p.Exited())
	requireReaped(t, pid)

	// Every later call fails at once with the same kind of error.
	start = time.Now()
	_, err = remote.Capabilities(context.Background())
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Less(t, time.Since(start), 5*time.Second)
	p.Kill() // still fine after the process died
}

func TestPluginPanicMidCall(t *testing.T) {
	remote, p := startBackend(t, plugins.StartOptions{})
	_, err := remote.Loglikelihood(ctxTimeout(t, 30*time.Second), intervention.Baseline(),
		[]plugins.LoglikelihoodRequest{{Context: testplugins.Panic}}, nil)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "backend fake: Loglikelihood")
	assert.Contains(t, err.Error(), "panic: fake backend panic")
	assert.Contains(t, err.Error(), "exit status 2")
	requireReaped(t, p.PID())
}

// A plugin that dies on a signal in C code (a fault in an engine's
// kernels) is reported with the signal, where it hit and the first frames
// of its trace; it was reported with the register dump's last lines
// ("cs 0x33 | fs 0x0 | gs 0x0").
func TestPluginSegfaultMidCall(t *testing.T) {
	remote, p := startBackend(t, plugins.StartOptions{})
	_, err := remote.Loglikelihood(ctxTimeout(t, 30*time.Second), intervention.Baseline(),
		[]plugins.LoglikelihoodRequest{{Context: testplugins.Segv}}, nil)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	msg := err.Error()
	assert.Contains(t, msg, "backend fake: Loglikelihood: plugin process exited (exit status 2)")
	assert.Contains(t, msg, "SIGSEGV: segmentation violation (PC=")
	assert.Contains(t, msg, "signal arrived during cgo execution")
	assert.Contains(t, msg, "at testplugins._Cfunc_fake_segv (")
	assert.Contains(t, msg, "← testplugins.segv (segv_cgo.go:")
	assert.NotContains(t, msg, "gs 0x")
	requireReaped(t, p.PID())
}

func TestTaskExitMidScore(t *testing.T) {
	task, p := startTask(t, plugins.StartOptions{})
	_, err := task.Score(ctxTimeout(t, 30*time.Second), plugins.TaskOptions{Options: map[string]string{"exit": "1"}}, nil, nil)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "task fake: Score: plugin process exited (exit status 4)")
	requireReaped(t, p.PID())
}

func TestKillIsIdempotentAndReaps(t *testing.T) {
	remote, p := startBackend(t, plugins.StartOptions{})
	pid := p.PID()
	require.NotZero(t, pid)
	assert.Equal(t, "backend fake", p.Name())
	assert.False(t, p.Exited())

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); p.Kill() }()
	}
	wg.Wait()
	p.Kill()
	assert.True(t, p.Exited())
	requireReaped(t, pid)

	_, err := remote.Capabilities(context.Background())
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "stopped by Kill")
}

func TestKillDuringCall(t *testing.T) {
	remote, p := startBackend(t, plugins.StartOptions{})
	time.AfterFunc(200*time.Millisecond, p.Kill)
	start := time.Now()
	_, err := remote.Loglikelihood(context.Background(), intervention.Baseline(),
		[]plugins.LoglikelihoodRequest{{Context: testplugins.Block}}, nil)
	require.ErrorIs(t, err, plugins.ErrPluginExited)
	assert.Contains(t, err.Error(), "stopped by Kill")
	assert.Less(t, time.Since(start), 5*time.Second)
	requireReaped(t, p.PID())
}

func TestCleanupAllKillsEveryPlugin(t *testing.T) {
	_, b := startBackend(t, plugins.StartOptions{})
	_, k := startTask(t, plugins.StartOptions{})
	plugins.CleanupAll()
	assert.True(t, b.Exited())
	assert.True(t, k.Exited())
	requireReaped(t, b.PID())
	requireReaped(t, k.PID())
	plugins.CleanupAll() // again: nothing left, no panic
}

func TestPluginLogsReachHostLogger(t *testing.T) {
	logger, logs := newHostLogger()
	remote, _ := startBackend(t, plugins.StartOptions{Logger: logger})
	ctx := ctxTimeout(t, 30*time.Second)
	_, err := remote.Load(ctx, plugins.LoadRequest{ModelDir: "/models/tiny"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := logs.String()
		return contains(s, testplugins.LogLoading) && contains(s, `"dir":"/models/tiny"`) &&
			contains(s, `"@module":"host.memscope-backend-fake"`) && contains(s, `"component":"fake-backend"`) &&
			contains(s, `"@level":"warn","@message":"`+testplugins.LogLate+`"`)
	}, 5*time.Second, 10*time.Millisecond, "host log:\n%s", logs)

	// A plugin writing to stdout breaks no call; the host logs a warning.
	_, err = remote.Loglikelihood(ctx, intervention.Baseline(), []plugins.LoglikelihoodRequest{{Context: testplugins.Stdout}}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := logs.String()
		return contains(s, "plugin wrote to stdout") && contains(s, "stray line on stdout")
	}, 5*time.Second, 10*time.Millisecond, "host log:\n%s", logs)
}

func TestHostLoggerAtInfoShowsNoLifecycleNoise(t *testing.T) {
	logs := &logBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Info, Output: logs, JSONFormat: true})
	remote, p := startBackend(t, plugins.StartOptions{Logger: logger})
	_, err := remote.Load(ctxTimeout(t, 10*time.Second), plugins.LoadRequest{ModelDir: "/m"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return contains(logs.String(), testplugins.LogLoading) }, 5*time.Second, 10*time.Millisecond)
	p.Kill()
	assert.NotContains(t, logs.String(), "plugin process exited")
	assert.NotContains(t, logs.String(), `"@level":"debug"`)
	// The host stamps its own lines (or leaves times out): go-plugin's
	// copy of the plugin's timestamp is noise.
	assert.NotContains(t, logs.String(), `"timestamp":`)
}

func TestHandshakeFailuresAreClear(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
		return p
	}
	notExec := filepath.Join(dir, plugins.BackendBinary("noexec"))
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))

	cases := []struct {
		name, path string
		want       []string
	}{
		{"wrong cookie", badCookieBin, []string{"start backend badcookie", "exited without a plugin handshake (exit status 1;", "another handshake cookie"}},
		{"wrong protocol version", badVersionBin, []string{"start backend badversion", "another memscope plugin protocol", "Plugin version: 2", "speaks 1"}},
		{"not a plugin", script("memscope-backend-echo", "echo hello; exec sleep 30"), []string{"start backend echo", "not a memscope plugin", `printed "hello"`}},
		{"silent exit", script("memscope-backend-quiet", "echo oops >&2; exit 5"), []string{"start backend quiet", "exited without a plugin handshake (exit status 5;", "docs/plugin-protocol.md", "its stderr: oops"}},
		{"task binary as backend", fakeTaskBin, []string{"start backend fake", "is a task plugin, not a backend plugin"}},
		{"missing", filepath.Join(dir, "memscope-backend-missing"), []string{"does not exist", "go tool task build"}},
		{"not executable", notExec, []string{"is not executable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			b, p, err := plugins.StartBackend(c.path, plugins.StartOptions{})
			require.Error(t, err)
			assert.Nil(t, b)
			assert.Nil(t, p)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), 10*time.Second)
			t.Logf("%v", err)
		})
	}
}

// A plugin that does the handshake by hand, as docs/plugin-protocol.md
// describes for plugins in other languages, starts and stops like a Go one;
// without the health service it is refused with a pointer to the document.
func TestHandWrittenHandshake(t *testing.T) {
	task, p, err := plugins.StartTask(rawTaskBin, plugins.StartOptions{})
	require.NoError(t, err)
	require.NotNil(t, task)
	start := time.Now()
	p.Kill()
	assert.True(t, p.Exited())
	assert.Less(t, time.Since(start), 2*time.Second, "it exits on GRPCController.Shutdown, before the kill 2 s later")

	_, _, err = plugins.StartTask(rawTaskBin, plugins.StartOptions{Env: []string{"RAWPLUGIN_HEALTH=0"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `the plugin does not answer gRPC health checks for service "plugin"`)
	assert.Contains(t, err.Error(), "see docs/plugin-protocol.md")
}

func TestKillingARefusedPluginLogsNoNoise(t *testing.T) {
	p := filepath.Join(t.TempDir(), "memscope-backend-echo")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\necho hello; exec sleep 30\n"), 0o755))
	logs := &logBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Info, Output: logs, JSONFormat: true})
	_, _, err := plugins.StartBackend(p, plugins.StartOptions{Logger: logger})
	require.ErrorContains(t, err, "not a memscope plugin")
	// memscope killed it: go-plugin's "failed to exit gracefully" and
	// "plugin process exited … signal: killed" only bury the error.
	assert.Empty(t, logs.String())
}

func TestRunningAPluginByHandExplains(t *testing.T) {
	for _, bin := range []string{fakeBackendBin, fakeTaskBin} {
		cmd := exec.Command(bin)
		cmd.Env = withoutCookie(os.Environ())
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr)
		assert.Equal(t, 1, exitErr.ExitCode())
		assert.Empty(t, stdout.String())
		kind := "backend"
		if strings.Contains(bin, "-task-") {
			kind = "task"
		}
		assert.Contains(t, stderr.String(), filepath.Base(bin)+" is a memscope "+kind+" plugin: it is not meant to be run by hand")
		assert.Contains(t, stderr.String(), "memscope run")
		assert.NotContains(t, stderr.String(), "This binary is a plugin")
	}
}

func withoutCookie(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "MEMSCOPE_PLUGIN=") {
			out = append(out, e)
		}
	}
	return out
}
