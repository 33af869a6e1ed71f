//go:build !unix

package safetensors

import "os"

func mapFile(f *os.File, size int64) ([]byte, bool, error) {
	data, err := readAll(f, size)
	return data, false, err
}

func unmap([]byte) error { return nil }
