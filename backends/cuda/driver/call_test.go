//go:build linux && (amd64 || arm64) && cgo

package driver

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/memscope/memscope/backends/cuda/driver/internal/ctest"
)

// TestCallManyArguments: the trampoline passes 24 arguments (registers
// and stack) in order, 32-bit ones included, and returns the result.
func TestCallManyArguments(t *testing.T) {
	args := make([]uintptr, 24)
	var want int64
	for i := range args {
		v := int64(i*i*7919 + 13)
		if i == 12 || i == 22 {
			v = int64(int32(-i)) // int32 parameters: only the low half counts
		}
		args[i] = uintptr(v)
	}
	for i := range args {
		v := int64(args[i])
		if i == 12 || i == 22 {
			v = int64(int32(v))
		}
		want = want*31 + v*int64(i+1)
	}
	assert.Equal(t, want, int64(call(ctest.Mix24(), args...)))
}

// TestCallWritesGoMemory: a pointer to Go memory stays valid in the call.
func TestCallWritesGoMemory(t *testing.T) {
	buf := make([]byte, 1000)
	r := call(ctest.Fill(), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0xab)
	assert.Equal(t, uintptr(7), r&0xffffffff)
	for _, b := range buf {
		if b != 0xab {
			t.Fatal("fill did not reach every byte")
		}
	}
}
