//go:build linux && (amd64 || arm64) && !cgo

package driver

import (
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/stretchr/testify/require"
)

// TestCallWithoutCgo: built with CGO_ENABLED=0 (as the plugin is), the
// trampoline calls into a C library loaded with dlopen.
func TestCallWithoutCgo(t *testing.T) {
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW)
	require.NoError(t, err)
	memset, err := purego.Dlsym(libc, "memset")
	require.NoError(t, err)
	buf := make([]byte, 64)
	call(memset, uintptr(unsafe.Pointer(&buf[0])), 0x5a, uintptr(len(buf)))
	for _, b := range buf {
		require.Equal(t, byte(0x5a), b)
	}
}
