package plugins

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// setProcAttrs puts the plugin in its own process group (so Kill takes any
// children it started along, and a terminal's Ctrl-C goes to the host,
// which then stops its plugins) and asks the kernel to SIGKILL it when the
// host dies, so a crashed host leaves no plugin behind.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Pdeathsig fires when the *thread* that started the child exits, not the
// process. Go may retire threads, so every plugin is started from one
// goroutine locked to its thread for the life of the host.
var spawner struct {
	once sync.Once
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startCmd(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every plugin
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// killGroup kills the plugin's process group (the plugin and its children).
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
