//go:build !linux

package plugins

import "os/exec"

func setProcAttrs(*exec.Cmd) {}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

func killGroup(int) {}
