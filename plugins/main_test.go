package plugins_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

// Plugin binaries built once by TestMain.
var (
	fakeBackendBin string // memscope-backend-fake
	fakeTaskBin    string // memscope-task-fake (the same program)
	badCookieBin   string // built with another magic cookie
	badVersionBin  string // serves protocol version 2
	rawTaskBin     string // memscope-task-raw: the handshake by hand, no go-plugin
)

const fakePkg = "github.com/memscope/memscope/plugins/internal/testplugins/cmd/fakeplugin"

func TestMain(m *testing.M) {
	if bin := os.Getenv(hostHelperEnv); bin != "" {
		runHostHelper(bin) // never returns
	}
	dir, err := os.MkdirTemp("", "memscope-plugins-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		defer plugins.CleanupAll()
		if err := buildPlugins(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build test plugins:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func buildPlugins(dir string) error {
	fakeBackendBin = filepath.Join(dir, "good", plugins.BackendBinary("fake"))
	fakeTaskBin = filepath.Join(dir, "good", plugins.TaskBinary("fake"))
	badCookieBin = filepath.Join(dir, "badcookie", plugins.BackendBinary("badcookie"))
	badVersionBin = filepath.Join(dir, "badversion", plugins.BackendBinary("badversion"))
	rawTaskBin = filepath.Join(dir, "raw", plugins.TaskBinary("raw"))
	builds := []struct{ out, ldflags, pkg string }{
		{fakeBackendBin, "", fakePkg},
		{badCookieBin, "-X github.com/memscope/memscope/plugins.cookieValue=not-memscopes-cookie", fakePkg},
		{badVersionBin, "-X github.com/memscope/memscope/plugins.protocolOverride=2", fakePkg},
		{rawTaskBin, "", "github.com/memscope/memscope/plugins/internal/testplugins/cmd/rawplugin"},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(goBinary(), "build", "-o", b.out, "-ldflags", b.ldflags, b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", b.out, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The task is the same program under a task name.
	data, err := os.ReadFile(fakeBackendBin)
	if err != nil {
		return err
	}
	return os.WriteFile(fakeTaskBin, data, 0o755)
}

func goBinary() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// logBuffer is a host logger whose JSON output tests can search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHostLogger() (hclog.Logger, *logBuffer) {
	b := &logBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: b, JSONFormat: true}), b
}

// startBackend starts the fake backend and kills it at the end of the test.
func startBackend(t *testing.T, opts plugins.StartOptions) (plugins.Backend, *plugins.Process) {
	t.Helper()
	b, p, err := plugins.StartBackend(fakeBackendBin, opts)
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return b, p
}

func startTask(t *testing.T, opts plugins.StartOptions) (plugins.Task, *plugins.Process) {
	t.Helper()
	tk, p, err := plugins.StartTask(fakeTaskBin, opts)
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return tk, p
}

// requireReaped checks the process is gone, not even a zombie: signal 0
// succeeds on a zombie.
func requireReaped(t *testing.T, pid int) {
	t.Helper()
	require.NotZero(t, pid)
	require.Eventually(t, func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}, 5*time.Second, 10*time.Millisecond, "process %d still exists (zombie or running)", pid)
}

func requireSame(t *testing.T, want, got any) {
	t.Helper()
	if d := diffExact(want, got); d != "" {
		t.Fatalf("values differ: %s", d)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// hostHelperEnv makes the test binary act as a memscope host that starts
// the plugin named by the variable, prints its pid and waits to be killed.
const hostHelperEnv = "MEMSCOPE_PLUGINS_TEST_HOST"

func runHostHelper(bin string) {
	_, p, err := plugins.StartBackend(bin, plugins.StartOptions{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(p.PID())
	time.Sleep(time.Minute)
	os.Exit(0)
}
