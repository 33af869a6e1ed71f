package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrPluginExited is wrapped (errors.Is) in every call error caused by the
// plugin process dying or being killed. The process cannot be used again:
// start a new one.
var ErrPluginExited = errors.New("plugin process exited")

// StartOptions configures a plugin subprocess.
type StartOptions struct {
	// Logger receives the plugin's log lines (its stderr, parsed as hclog
	// JSON) and go-plugin's own messages. nil discards them; the last
	// lines still appear in errors when the plugin dies.
	Logger hclog.Logger
	// Env is added to the subprocess's environment, over the host's
	// (e.g. OPENBLAS_NUM_THREADS=2).
	Env []string
	// StartTimeout bounds the start and handshake; 0 means 30 s.
	StartTimeout time.Duration
}

const defaultStartTimeout = 30 * time.Second

// ProtocolDoc is where the plugin protocol and its handshake are described
// (in memscope's source tree), named by start errors so that the author of
// a plugin, in Go or not, finds what the plugin must do.
const ProtocolDoc = "docs/plugin-protocol.md"

// exitWait is how long a failed call waits for the plugin's exit to be
// recorded before deciding whether the process died.
const exitWait = 2 * time.Second

// Process is a running plugin subprocess.
type Process struct {
	name   string // "task piqa"
	path   string
	client *plugin.Client
	runner *procRunner
	stderr *stderrTail

	doneCtx context.Context // ends when the process has exited and been reaped
	started atomic.Bool     // the handshake succeeded and the plugin was dispensed
	killed  atomic.Bool
	killMu  sync.Mutex
}

// Name says which plugin this is, from its binary name: "backend cpu",
// "task piqa".
func (p *Process) Name() string { return p.name }

// Path is the plugin binary's path.
func (p *Process) Path() string { return p.path }

// PID is the plugin process's id (0 if it never started).
func (p *Process) PID() int { return p.runner.PID() }

// Exited reports whether the process has ended (and been reaped).
func (p *Process) Exited() bool {
	return p.client.Exited()
}

// Kill stops the plugin: it asks the plugin to shut down, kills it after
// 2 s, and returns once the process has been reaped. Calls in flight fail
// with ErrPluginExited. Kill is idempotent and safe from any goroutine.
func (p *Process) Kill() {
	p.killed.Store(true)
	p.killMu.Lock()
	p.client.Kill()
	p.killMu.Unlock()
	unregister(p)
}

// live is the set of started plugins that CleanupAll kills.
var live = struct {
	sync.Mutex
	procs map[*Process]struct{}
}{procs: map[*Process]struct{}{}}

func register(p *Process) {
	live.Lock()
	live.procs[p] = struct{}{}
	live.Unlock()
}

func unregister(p *Process) {
	live.Lock()
	delete(live.procs, p)
	live.Unlock()
}

// CleanupAll kills every plugin started by this process and not yet
// killed, in parallel. Defer it in main; it may be called more than once.
func CleanupAll() {
	live.Lock()
	procs := make([]*Process, 0, len(live.procs))
	for p := range live.procs {
		procs = append(procs, p)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Kill()
		}()
	}
	wg.Wait()
}

// StartBackend starts the backend plugin binary at path and returns its
// Backend. Kill the Process (or call CleanupAll) when done.
func StartBackend(path string, opts StartOptions) (Backend, *Process, error) {
	raw, p, err := start(KindBackend, path, opts)
	if err != nil {
		return nil, nil, err
	}
	return raw.(Backend), p, nil
}

// StartTask starts the task plugin binary at path and returns its Task.
func StartTask(path string, opts StartOptions) (Task, *Process, error) {
	raw, p, err := start(KindTask, path, opts)
	if err != nil {
		return nil, nil, err
	}
	return raw.(Task), p, nil
}

func start(kind, path string, opts StartOptions) (any, *Process, error) {
	name := displayName(kind, path)
	if err := checkExecutable(path); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	p := &Process{name: name, path: path, stderr: newStderrTail(), doneCtx: context.Background()}
	pluginLog := logger.Named(filepath.Base(path))

	env := append(os.Environ(), opts.Env...)
	env = append(env, envLogLevel+"="+pluginLogLevel(opts.Logger))

	p.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshakeConfig(),
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {kind: &grpcPlugin{kind: kind, proc: p}}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			// spec carries go-plugin's environment (cookie, socket dir,
			// versions); it goes last so it wins over the host's.
			cmd := exec.Command(path)
			cmd.Env = append(env, spec.Env...)
			r, err := newProcRunner(cmd)
			if err != nil {
				return nil, err
			}
			p.runner = r
			return r, nil
		},
		SkipHostEnv:  true, // we add it ourselves, under opts.Env
		Managed:      true,
		StartTimeout: timeout,
		Logger:       quietLogger{Logger: logger, proc: p},
		Stderr:       p.stderr,
		SyncStdout: newLineWriter(func(line string) {
			pluginLog.Warn("plugin wrote to stdout (plugins must log through plugins.PluginLogger)", "line", line)
		}),
		SyncStderr:      newLineWriter(func(line string) { pluginLog.Debug(line) }),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes))},
	})
	if p.runner == nil {
		p.runner = &procRunner{} // until RunnerFunc runs, PID() is 0
	}
	register(p)

	fail := func(err error) (any, *Process, error) {
		p.Kill()
		return nil, nil, err
	}
	rpc, err := p.client.Client()
	if err != nil {
		return fail(p.startError(err))
	}
	// go-plugin requires the gRPC health service; Go plugins serve it
	// through go-plugin, a plugin in another language must register it.
	if err := rpc.Ping(); err != nil {
		return fail(fmt.Errorf("start %s (%s): the plugin does not answer gRPC health checks for service \"plugin\" (%s): "+
			"see %s, step 4", name, path, status.Convert(err).Message(), ProtocolDoc))
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		return fail(fmt.Errorf("start %s (%s): %w", name, path, err))
	}
	p.started.Store(true)
	return raw, p, nil
}

// quietLogger is the logger go-plugin gets: its own routine Info messages
// (a plugin started, exited) drop to Debug, so a harness logging at Info
// shows what plugins say, not their lifecycle. So do its complaints about
// a plugin memscope itself killed (one that failed its handshake, or was
// busy at Ctrl-C): the error memscope reports says what matters. Named
// loggers (the plugin's own lines) pass through unchanged.
type quietLogger struct {
	hclog.Logger
	proc *Process
}

func (l quietLogger) Info(msg string, args ...any) { l.Logger.Debug(msg, args...) }

// Warn: go-plugin warns only inside Kill ("plugin failed to exit
// gracefully", "error closing client during Kill"), which memscope calls.
func (l quietLogger) Warn(msg string, args ...any) { l.Logger.Debug(msg, args...) }

func (l quietLogger) Error(msg string, args ...any) {
	// A plugin that failed to start, or that memscope killed: the start
	// error (with the exit status and stderr) or memscope's own message
	// says what happened.
	if l.proc.killed.Load() || !l.proc.started.Load() {
		l.Logger.Debug(msg, args...)
		return
	}
	l.Logger.Error(msg, args...)
}

// Named is the logger go-plugin re-logs the plugin's lines through.
func (l quietLogger) Named(name string) hclog.Logger { return pluginLines{l.Logger.Named(name)} }

// pluginLines re-logs a plugin's log lines without the "timestamp" that
// go-plugin appends to each: the host logger stamps its lines itself, or
// leaves times out on purpose (memscope run without -v).
type pluginLines struct{ hclog.Logger }

func (l pluginLines) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, dropTimestamp(args)...)
}
func (l pluginLines) Trace(msg string, args ...any) { l.Logger.Trace(msg, dropTimestamp(args)...) }
func (l pluginLines) Debug(msg string, args ...any) { l.Logger.Debug(msg, dropTimestamp(args)...) }
func (l pluginLines) Info(msg string, args ...any)  { l.Logger.Info(msg, dropTimestamp(args)...) }
func (l pluginLines) Warn(msg string, args ...any)  { l.Logger.Warn(msg, dropTimestamp(args)...) }
func (l pluginLines) Error(msg string, args ...any) { l.Logger.Error(msg, dropTimestamp(args)...) }

func dropTimestamp(args []any) []any {
	out := args[:0:0]
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "timestamp" {
			continue
		}
		out = append(out, args[i], args[i+1])
	}
	if len(args)%2 == 1 {
		out = append(out, args[len(args)-1])
	}
	return out
}

// pluginLogLevel is the level a plugin's PluginLogger should use. With no
// host logger the plugin still logs errors, which end up in error messages.
func pluginLogLevel(l hclog.Logger) string {
	if l == nil {
		return "error"
	}
	level := l.GetLevel()
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return level.String()
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist (build the plugins with `go tool task build`)", path)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a plugin binary", path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not executable (chmod +x it, or rebuild the plugins)", path)
	}
	return nil
}

// startError turns go-plugin's start errors into what a user can act on.
func (p *Process) startError(err error) error {
	head := fmt.Sprintf("start %s (%s)", p.name, p.path)
	msg := err.Error()
	tail := p.waitStderr()
	withTail := func(s string) error {
		if tail != "" {
			s += "; its stderr: " + tail
		}
		return errors.New(s)
	}
	switch {
	case strings.HasPrefix(msg, "Unrecognized remote plugin message"):
		first, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		if first == "" {
			return withTail(p.noHandshake(head))
		}
		return withTail(fmt.Sprintf("%s: not a memscope plugin: it printed %q instead of the plugin handshake (see %s)", head, first, ProtocolDoc))
	case strings.Contains(msg, "plugin exited before we could connect"):
		return withTail(p.noHandshake(head))
	case strings.Contains(msg, "incompatible API version"):
		return fmt.Errorf("%s: the plugin speaks another memscope plugin protocol (%s); this memscope speaks %d: "+
			"rebuild memscope and its plugins from the same source (`go tool task build`), or see %s", head, msg, ProtocolVersion, ProtocolDoc)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return withTail(fmt.Sprintf("%s: no plugin handshake within the start timeout: is it a memscope plugin? (the handshake is described in %s)", head, ProtocolDoc))
	}
	return withTail(fmt.Sprintf("%s: %v", head, err))
}

// noHandshake describes a plugin that printed no handshake line: most
// often it exited (a cookie mismatch, a crash at start, not a plugin).
func (p *Process) noHandshake(head string) string {
	if status := p.runner.exitStatus(); status != "" {
		return fmt.Sprintf("%s: the plugin exited without a plugin handshake (%s; the handshake is described in %s)", head, status, ProtocolDoc)
	}
	return fmt.Sprintf("%s: the plugin printed no plugin handshake (see %s)", head, ProtocolDoc)
}

// waitStderr waits briefly for a dying plugin's stderr to be read, then
// summarizes it.
func (p *Process) waitStderr() string {
	p.runner.waitExited(exitWait)
	return p.stderr.summary()
}

// callContext derives a call's context: it also ends when the process
// exits, so no call outlives its plugin.
func (p *Process) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	callCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.doneCtx, cancel)
	return callCtx, func() { stop(); cancel() }
}

// callError wraps a failed call's error with the plugin's name and method,
// and says whether the process died (ErrPluginExited) or the caller's
// context ended.
func (p *Process) callError(ctx context.Context, method string, err error) error {
	st := status.Convert(err)
	if _, hasDeadline := ctx.Deadline(); hasDeadline && st.Code() == codes.DeadlineExceeded {
		// The plugin's side of the call may time out a moment before the
		// caller's context does (both run the same deadline): wait for it,
		// so the error wraps context.DeadlineExceeded.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %s: %w", p.name, method, ctxErr)
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled:
		// The connection broke or the process-exit context fired: the
		// process is gone or going. Wait for its exit to be recorded.
		if p.runner.waitExited(exitWait) || p.doneCtx.Err() != nil {
			return p.exitedError(method)
		}
		if st.Code() == codes.Unavailable {
			return fmt.Errorf("%s: %s: lost the connection to the plugin (%s): %w", p.name, method, st.Message(), ErrPluginExited)
		}
	}
	if st.Code() == codes.InvalidArgument {
		return InvalidInput(fmt.Errorf("%s: %s: %s", p.name, method, st.Message()))
	}
	return fmt.Errorf("%s: %s: %s", p.name, method, st.Message())
}

func (p *Process) exitedError(method string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s", p.name, method, ErrPluginExited)
	status := p.runner.exitStatus()
	if p.killed.Load() {
		status = strings.TrimSuffix("stopped by Kill; "+status, "; ")
	}
	if status != "" {
		fmt.Fprintf(&b, " (%s)", status)
	}
	if tail := p.stderr.summary(); tail != "" {
		fmt.Fprintf(&b, "; its stderr: %s", tail)
	}
	return &exitedError{msg: b.String()}
}

type exitedError struct{ msg string }

func (e *exitedError) Error() string { return e.msg }
func (e *exitedError) Unwrap() error { return ErrPluginExited }
