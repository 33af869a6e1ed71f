// Package tmpfs gives tests a small file system of their own, to see what
// code does when the disk fills up or turns read-only. Mounting needs
// root (CAP_SYS_ADMIN) on Linux; elsewhere, or where the mount is refused
// (an unprivileged container), the test is skipped with a message saying
// why.
package tmpfs

import (
	"testing"
)

// FS is a mounted tmpfs.
type FS struct {
	Dir  string
	t    testing.TB
	size int64
}

// Mount mounts a tmpfs of size bytes (rounded up to pages) on a new
// temporary folder and unmounts it when the test ends; it skips the test
// when it cannot.
func Mount(t testing.TB, size int64) *FS {
	t.Helper()
	fs := &FS{Dir: t.TempDir(), t: t, size: size}
	if err := mount(fs.Dir, size, false); err != nil {
		t.Skipf("needs a small tmpfs to fill up (mount -t tmpfs as root): %v", err)
	}
	t.Cleanup(func() {
		if err := unmount(fs.Dir); err != nil {
			t.Errorf("unmount %s: %v", fs.Dir, err)
		}
	})
	return fs
}

// ReadOnly remounts the file system read-only.
func (fs *FS) ReadOnly() {
	fs.t.Helper()
	if err := mount(fs.Dir, fs.size, true); err != nil {
		fs.t.Fatalf("remount %s read-only: %v", fs.Dir, err)
	}
}

// ReadWrite remounts the file system writable.
func (fs *FS) ReadWrite() {
	fs.t.Helper()
	if err := remountRW(fs.Dir, fs.size); err != nil {
		fs.t.Fatalf("remount %s read-write: %v", fs.Dir, err)
	}
}
