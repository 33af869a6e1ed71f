package plugins

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner runs a plugin binary for go-plugin, like go-plugin's own
// command runner, and in addition records the exit status (for error
// messages) and, on Linux, puts the plugin in its own process group and
// has the kernel kill it if the host dies (see runner_linux.go).
type procRunner struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
	pid            int

	exited  chan struct{} // closed once Wait has reaped the process
	mu      sync.Mutex
	waitErr error
}

var _ runner.Runner = (*procRunner)(nil)

func newProcRunner(cmd *exec.Cmd) (*procRunner, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	setProcAttrs(cmd)
	return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr, exited: make(chan struct{})}, nil
}

func (r *procRunner) Start(context.Context) error {
	if err := startCmd(r.cmd); err != nil {
		return err
	}
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	r.mu.Unlock()
	return nil
}

// Wait is called once by go-plugin, after the stdout and stderr pipes are
// drained.
func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.waitErr = err
	r.mu.Unlock()
	close(r.exited)
	return err
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd == nil || r.cmd.Process == nil || r.waitExited(0) {
		return nil
	}
	killGroup(r.cmd.Process.Pid)
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }

func (r *procRunner) Name() string {
	if r.cmd == nil {
		return ""
	}
	return r.cmd.Path
}

func (r *procRunner) ID() string {
	if pid := r.PID(); pid != 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

// PID is the process id, 0 before the start.
func (r *procRunner) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// Diagnose is empty: Process.startError says what went wrong.
func (r *procRunner) Diagnose(context.Context) string { return "" }

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// waitExited waits up to d for the process to be reaped and reports
// whether it has been.
func (r *procRunner) waitExited(d time.Duration) bool {
	if r.exited == nil {
		return false
	}
	if d <= 0 {
		select {
		case <-r.exited:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.exited:
		return true
	case <-t.C:
		return false
	}
}

// exitStatus describes how the process ended ("exit status 3", "signal:
// killed"); "" while it runs.
func (r *procRunner) exitStatus() string {
	if !r.waitExited(0) {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waitErr == nil {
		return "exit status 0"
	}
	return r.waitErr.Error()
}
