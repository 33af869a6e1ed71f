//go:build cgo

// Package ctest gives the driver's tests C functions to call through its
// trampoline (test support only; cgo files cannot be tests themselves).
package ctest

/*
#include <stdint.h>
// mix24 depends on every argument and its position, with a 32-bit int
// among them (as cuBLAS takes enums) and a negative one.
static int64_t mix24(int64_t a0, int64_t a1, int64_t a2, int64_t a3, int64_t a4, int64_t a5, int64_t a6, int64_t a7,
		int64_t a8, int64_t a9, int64_t a10, int64_t a11, int32_t a12, int64_t a13, int64_t a14, int64_t a15,
		int64_t a16, int64_t a17, int64_t a18, int64_t a19, int64_t a20, int64_t a21, int32_t a22, int64_t a23) {
	int64_t v[24] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23};
	int64_t h = 0;
	for (int i = 0; i < 24; i++) h = h * 31 + v[i] * (i + 1);
	return h;
}
static void* mix24_addr(void) { return (void*)mix24; }
// fill writes n bytes of value v at p (a pointer argument the callee writes through).
static int fill(unsigned char* p, int64_t n, int v) { for (int64_t i = 0; i < n; i++) p[i] = (unsigned char)v; return 7; }
static void* fill_addr(void) { return (void*)fill; }
*/
import "C"

// Mix24 is the address of a C function of 24 integer arguments.
func Mix24() uintptr { return uintptr(C.mix24_addr()) }

// Fill is the address of int fill(unsigned char *p, int64_t n, int v).
func Fill() uintptr { return uintptr(C.fill_addr()) }
