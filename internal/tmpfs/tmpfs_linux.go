package tmpfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func mount(dir string, size int64, readOnly bool) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("not root")
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if readOnly {
		flags |= unix.MS_REMOUNT | unix.MS_RDONLY
	}
	return unix.Mount("tmpfs", dir, "tmpfs", flags, fmt.Sprintf("size=%d,mode=0755", size))
}

func remountRW(dir string, size int64) error {
	return unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", size))
}

func unmount(dir string) error { return unix.Unmount(dir, unix.MNT_DETACH) }
