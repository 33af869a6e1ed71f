//go:build linux && arm64

#include "textflag.h"

// cudaDriverCall calls a C function with up to 24 integer or pointer
// arguments (see call_linux_amd64.s). AAPCS64: eight arguments in
// registers, the rest in 8-byte stack slots, the stack 16-byte aligned.
GLOBL ·callABI0(SB), NOPTR|RODATA, $8
DATA ·callABI0(SB)/8, $cudaDriverCall(SB)

TEXT cudaDriverCall(SB), NOSPLIT|NOFRAME, $0
	SUB $32, RSP
	MOVD R29, 0(RSP)
	MOVD R30, 8(RSP)
	MOVD R19, 16(RSP)
	MOVD R0, R19
	SUB $128, RSP
	MOVD 72(R19), R1
	MOVD R1, 0(RSP)
	MOVD 80(R19), R1
	MOVD R1, 8(RSP)
	MOVD 88(R19), R1
	MOVD R1, 16(RSP)
	MOVD 96(R19), R1
	MOVD R1, 24(RSP)
	MOVD 104(R19), R1
	MOVD R1, 32(RSP)
	MOVD 112(R19), R1
	MOVD R1, 40(RSP)
	MOVD 120(R19), R1
	MOVD R1, 48(RSP)
	MOVD 128(R19), R1
	MOVD R1, 56(RSP)
	MOVD 136(R19), R1
	MOVD R1, 64(RSP)
	MOVD 144(R19), R1
	MOVD R1, 72(RSP)
	MOVD 152(R19), R1
	MOVD R1, 80(RSP)
	MOVD 160(R19), R1
	MOVD R1, 88(RSP)
	MOVD 168(R19), R1
	MOVD R1, 96(RSP)
	MOVD 176(R19), R1
	MOVD R1, 104(RSP)
	MOVD 184(R19), R1
	MOVD R1, 112(RSP)
	MOVD 192(R19), R1
	MOVD R1, 120(RSP)
	MOVD 8(R19), R0
	MOVD 16(R19), R1
	MOVD 24(R19), R2
	MOVD 32(R19), R3
	MOVD 40(R19), R4
	MOVD 48(R19), R5
	MOVD 56(R19), R6
	MOVD 64(R19), R7
	MOVD 0(R19), R9
	CALL (R9)
	MOVD R0, 200(R19)
	ADD $128, RSP
	MOVD 0(RSP), R29
	MOVD 8(RSP), R30
	MOVD 16(RSP), R19
	ADD $32, RSP
	RET
