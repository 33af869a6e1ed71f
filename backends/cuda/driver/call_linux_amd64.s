//go:build linux && amd64

#include "textflag.h"

// cudaDriverCall calls a C function with up to 24 integer or pointer
// arguments (cuBLAS's strided-batched GEMM takes 23; purego's calls stop
// at 15). runtime.cgocall runs it on the system stack with the C calling
// convention, DI pointing at a callArgs: fn at 0, the arguments from 8,
// the result at 200. System V: six arguments in registers, the rest on
// the stack, which must be 16-byte aligned at the call.
GLOBL ·callABI0(SB), NOPTR|RODATA, $8
DATA ·callABI0(SB)/8, $cudaDriverCall(SB)

TEXT cudaDriverCall(SB), NOSPLIT|NOFRAME, $0
	PUSHQ BP
	MOVQ SP, BP
	PUSHQ BX
	MOVQ DI, BX
	SUBQ $152, SP
	MOVQ 56(BX), AX
	MOVQ AX, 0(SP)
	MOVQ 64(BX), AX
	MOVQ AX, 8(SP)
	MOVQ 72(BX), AX
	MOVQ AX, 16(SP)
	MOVQ 80(BX), AX
	MOVQ AX, 24(SP)
	MOVQ 88(BX), AX
	MOVQ AX, 32(SP)
	MOVQ 96(BX), AX
	MOVQ AX, 40(SP)
	MOVQ 104(BX), AX
	MOVQ AX, 48(SP)
	MOVQ 112(BX), AX
	MOVQ AX, 56(SP)
	MOVQ 120(BX), AX
	MOVQ AX, 64(SP)
	MOVQ 128(BX), AX
	MOVQ AX, 72(SP)
	MOVQ 136(BX), AX
	MOVQ AX, 80(SP)
	MOVQ 144(BX), AX
	MOVQ AX, 88(SP)
	MOVQ 152(BX), AX
	MOVQ AX, 96(SP)
	MOVQ 160(BX), AX
	MOVQ AX, 104(SP)
	MOVQ 168(BX), AX
	MOVQ AX, 112(SP)
	MOVQ 176(BX), AX
	MOVQ AX, 120(SP)
	MOVQ 184(BX), AX
	MOVQ AX, 128(SP)
	MOVQ 192(BX), AX
	MOVQ AX, 136(SP)
	MOVQ 8(BX), DI
	MOVQ 16(BX), SI
	MOVQ 24(BX), DX
	MOVQ 32(BX), CX
	MOVQ 40(BX), R8
	MOVQ 48(BX), R9
	XORL AX, AX
	MOVQ 0(BX), R10
	CALL R10
	MOVQ AX, 200(BX)
	ADDQ $152, SP
	POPQ BX
	POPQ BP
	RET
