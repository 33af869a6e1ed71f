//go:build !linux

package tmpfs

import "errors"

var errUnsupported = errors.New("tmpfs mounts are Linux-only")

func mount(string, int64, bool) error { return errUnsupported }
func remountRW(string, int64) error   { return errUnsupported }
func unmount(string) error            { return nil }
