//go:build cgo

package testplugins

/*
// A write through a null pointer in C: the Go runtime prints
// "SIGSEGV: segmentation violation", "PC=…", "signal arrived during cgo
// execution" and the goroutine traces, as for a fault in an engine's C
// kernels.
static void fake_segv(void) { volatile int *p = 0; *p = 1; }
*/
import "C"

func segv() { C.fake_segv() }
