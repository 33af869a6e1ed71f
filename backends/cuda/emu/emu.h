// C interface of the CPU emulator's runtime (emu.cc), for emu.go.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

enum { EMU_F32 = 0, EMU_F16 = 1, EMU_BF16 = 2 };

int emu_kernel_count(void);
const char* emu_kernel_name(int i);
int emu_launch(const char* name, void** args, int gx, int gy, int gz, int bx, long long shmem, long long first,
		long long last);
int emu_gemm(int transA, int transB, int m, int n, int k, float alpha, const void* a, int atype, int lda,
		long long strideA, const void* b, int btype, int ldb, long long strideB, float beta, float* c, int ldc,
		long long strideC, int batch);
void* emu_alloc(long long size, long long* mapped, void** base);
void emu_free(void* base, long long mapped);

#ifdef __cplusplus
}
#endif
