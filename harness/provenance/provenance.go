// Package provenance describes where a run came from: the build (harness
// version, git commit) and the machine (OS/arch, CPU model, cores). It is
// stored with every result table.
package provenance

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
)

// GitCommit returns the commit memscope was built from: the value given
// with -ldflags (the Taskfile passes `git rev-parse HEAD`), else the VCS
// stamp of the build (absent under -buildvcs=false), else "unknown".
func GitCommit(ldflagsValue string) string {
	if ldflagsValue != "" {
		return ldflagsValue
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return rev
		}
	}
	return "unknown"
}

// Machine describes the computer: "linux/amd64, AMD EPYC 7B13, 2 cores".
func Machine() string {
	parts := []string{runtime.GOOS + "/" + runtime.GOARCH}
	if m := cpuModel(); m != "" {
		parts = append(parts, m)
	}
	parts = append(parts, fmt.Sprintf("%d cores", runtime.NumCPU()))
	return strings.Join(parts, ", ")
}

func cpuModel() string {
	switch runtime.GOOS {
	case "linux":
		f, err := os.Open("/proc/cpuinfo")
		if err != nil {
			return ""
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			key, val, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(key) {
			case "model name", "Model", "cpu model":
				return strings.Join(strings.Fields(val), " ")
			}
		}
	case "darwin":
		out, err := exec.Command("sysctl", "-n", "machdep.cpu.brand_string").Output()
		if err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	return ""
}
