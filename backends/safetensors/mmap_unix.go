//go:build unix

package safetensors

import (
	"os"
	"syscall"
)

// mapFile maps the whole file read-only; if mmap is refused (some
// filesystems), it falls back to reading the file.
func mapFile(f *os.File, size int64) ([]byte, bool, error) {
	if int64(int(size)) == size {
		data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
		if err == nil {
			return data, true, nil
		}
	}
	data, err := readAll(f, size)
	return data, false, err
}

func unmap(data []byte) error { return syscall.Munmap(data) }
