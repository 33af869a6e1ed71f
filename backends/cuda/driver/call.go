//go:build linux && (amd64 || arm64)

package driver

import (
	"unsafe"

	_ "github.com/ebitengine/purego" // dlopen, and the runtime support for C calls without cgo
)

// supported says whether this platform can call the CUDA libraries.
const supported = true

// callArgs is what cudaDriverCall reads: the function, its arguments (up
// to 24, integers and pointers only) and, after the call, its result.
type callArgs struct {
	fn   uintptr
	args [24]uintptr
	ret  uintptr
}

// callABI0 is the address of cudaDriverCall (call_linux_*.s).
var callABI0 uintptr

//go:linkname runtime_cgocall runtime.cgocall
func runtime_cgocall(fn uintptr, arg unsafe.Pointer) int32

// call calls the C function fn with integer and pointer arguments and
// returns its integer result. Pointers to Go memory passed as
// uintptr(unsafe.Pointer(p)) stay valid for the call.
//
//go:uintptrescapes
func call(fn uintptr, args ...uintptr) uintptr {
	if len(args) > 24 {
		panic("driver: more than 24 arguments")
	}
	c := &callArgs{fn: fn}
	copy(c.args[:], args)
	runtime_cgocall(callABI0, unsafe.Pointer(c))
	return c.ret
}
