//go:build !cgo

package testplugins

// segv dereferences a nil pointer (without cgo there is no C to fault in;
// the runtime prints "[signal SIGSEGV: …]" under the panic).
func segv() {
	var p *int
	*p = 1
}
