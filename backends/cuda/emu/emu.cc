//go:build cgo

// The CPU emulator's runtime: kernel registry, fibers and barriers, grid
// execution, and the GEMMs cuBLAS would do (OpenBLAS, column-major).

#include "emu.h"
#include "emu_shim.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#if !defined(__x86_64__) || defined(EMU_UCONTEXT)
#include <ucontext.h>
#define EMU_USE_UCONTEXT 1
#endif

// The kernels themselves, compiled for the CPU (a link to
// ../kernels/kernels.cu, so that go's build cache sees it change).
#include "kernels_src.h"

// ---------------------------------------------------------------- registry

namespace {
struct entry {
	void* fn;
	emu_invoker inv;
};
std::map<std::string, entry>& registry() {
	static std::map<std::string, entry> r;
	return r;
}
std::vector<std::string>& names() {
	static std::vector<std::string> n;
	return n;
}
} // namespace

void emu_register(const char* name, void* fn, emu_invoker inv) {
	registry()[name] = entry{fn, inv};
	names().push_back(name);
}

extern "C" int emu_kernel_count() { return (int)names().size(); }
extern "C" const char* emu_kernel_name(int i) { return names()[i].c_str(); }

// ------------------------------------------------------------------ fibers

enum { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct emu_fiber {
	void* sp; // saved stack pointer (asm switch)
#ifdef EMU_USE_UCONTEXT
	ucontext_t uc;
#endif
	unsigned int tid;
	int state;
	char* stack;
};

namespace {
const size_t kStack = 64 * 1024; // per CUDA thread; a guard page below each
const int kMaxThreads = 1024;

struct worker {
	std::vector<emu_fiber> fibers;
	char* stacks = nullptr;
	size_t nstacks = 0;
	void* main_sp = nullptr;
#ifdef EMU_USE_UCONTEXT
	ucontext_t main_uc;
#endif
	// the launch being run
	entry* kern = nullptr;
	void** args = nullptr;
	int nthreads = 0;
	int live = 0;             // threads not DONE
	int block_waiting = 0;    // threads at __syncthreads
	int warp_live[32];        // per warp: lanes not DONE
	int warp_waiting[32];     // per warp: lanes at a warp barrier
	uint64_t xchg[kMaxThreads];
	std::vector<char> dyn;
	bool deadlock = false;
};
thread_local worker* W = nullptr;
} // namespace

thread_local emu_fiber* emu_current = nullptr;
thread_local emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;

unsigned int emu_thread_x() { return emu_current->tid; }
void* emu_dynamic_shared() { return W->dyn.data(); }

#ifndef EMU_USE_UCONTEXT
// emu_switch saves the callee-saved registers and the FP control words on
// the current stack, stores its stack pointer in *save and resumes the
// context whose stack pointer is next.
extern "C" void emu_switch(void** save, void* next);
asm(R"(
	.text
	.p2align 4
	.globl emu_switch
	.type emu_switch, @function
emu_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size emu_switch, .-emu_switch
	.section .note.GNU-stack,"",@progbits
	.text
)");
#endif

static void to_main(emu_fiber* f) {
#ifdef EMU_USE_UCONTEXT
	swapcontext(&f->uc, &W->main_uc);
#else
	emu_switch(&f->sp, W->main_sp);
#endif
}

static void release_block() {
	for (int i = 0; i < W->nthreads; i++)
		if (W->fibers[i].state == WAIT_BLOCK) W->fibers[i].state = RUNNABLE;
	W->block_waiting = 0;
}

static void release_warp(int w) {
	int lo = w * 32, hi = std::min(W->nthreads, lo + 32);
	for (int i = lo; i < hi; i++)
		if (W->fibers[i].state == WAIT_WARP) W->fibers[i].state = RUNNABLE;
	W->warp_waiting[w] = 0;
}

void emu_syncthreads() {
	emu_fiber* f = emu_current;
	f->state = WAIT_BLOCK;
	if (++W->block_waiting == W->live) {
		release_block(); // the last to arrive goes on
		return;
	}
	to_main(f);
}

void emu_syncwarp() {
	emu_fiber* f = emu_current;
	int w = (int)(f->tid >> 5);
	f->state = WAIT_WARP;
	if (++W->warp_waiting[w] == W->warp_live[w]) {
		release_warp(w);
		return;
	}
	to_main(f);
}

uint64_t emu_exchange(uint64_t v, int src) {
	emu_fiber* f = emu_current;
	int base = (int)(f->tid & ~31u);
	W->xchg[f->tid] = v;
	emu_syncwarp();
	uint64_t out = v;
	if (src >= 0 && src < 32 && base + src < W->nthreads) out = W->xchg[base + src];
	emu_syncwarp(); // nobody overwrites its slot before every lane has read
	return out;
}

static void fiber_exit(emu_fiber* f) {
	f->state = DONE;
	W->live--;
	int w = (int)(f->tid >> 5);
	W->warp_live[w]--;
	if (W->block_waiting > 0 && W->block_waiting == W->live) release_block();
	if (W->warp_waiting[w] > 0 && W->warp_waiting[w] == W->warp_live[w]) release_warp(w);
}

static void fiber_main() {
	emu_fiber* f = emu_current;
	W->kern->inv(W->kern->fn, W->args);
	fiber_exit(f);
	to_main(f);
	abort(); // a finished fiber is never resumed
}

static bool ensure_stacks(int n) {
	if ((size_t)n <= W->nstacks) return true;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t per = kStack + page;
	void* p = mmap(nullptr, per * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) return false;
	for (int i = 0; i < kMaxThreads; i++) mprotect((char*)p + i * per, page, PROT_NONE);
	W->stacks = (char*)p;
	W->nstacks = kMaxThreads;
	W->fibers.resize(kMaxThreads);
	for (int i = 0; i < kMaxThreads; i++) W->fibers[i].stack = W->stacks + i * per + page;
	return true;
}

static void start_fiber(emu_fiber* f) {
#ifdef EMU_USE_UCONTEXT
	getcontext(&f->uc);
	f->uc.uc_stack.ss_sp = f->stack;
	f->uc.uc_stack.ss_size = kStack;
	f->uc.uc_link = nullptr;
	makecontext(&f->uc, fiber_main, 0);
#else
	// A stack that emu_switch "returns" into fiber_main with: FP control
	// words, six callee-saved registers, then the return address at a
	// 16-byte boundary (so fiber_main starts as if called).
	uintptr_t top = ((uintptr_t)(f->stack + kStack) & ~(uintptr_t)15) - 16;
	uint64_t* s = (uint64_t*)top;
	s[1] = 0; // no return from fiber_main
	s[0] = (uint64_t)(uintptr_t)&fiber_main;
	uint64_t* regs = s - 6;
	for (int i = 0; i < 6; i++) regs[i] = 0;
	uint32_t* cw = (uint32_t*)(regs - 1);
	uint32_t mxcsr;
	uint16_t fpucw;
	asm volatile("stmxcsr %0" : "=m"(mxcsr));
	asm volatile("fnstcw %0" : "=m"(fpucw));
	cw[0] = mxcsr;
	cw[1] = fpucw;
	f->sp = (void*)(regs - 1);
#endif
}

static void resume(emu_fiber* f) {
	emu_current = f;
#ifdef EMU_USE_UCONTEXT
	swapcontext(&W->main_uc, &f->uc);
#else
	emu_switch(&W->main_sp, f->sp);
#endif
}

// run_block runs every thread of one block to completion; false on a
// barrier no thread can pass (some threads exited or diverged).
static bool run_block(int nthreads) {
	W->nthreads = nthreads;
	W->live = nthreads;
	W->block_waiting = 0;
	for (int w = 0; w < 32; w++) {
		W->warp_live[w] = std::max(0, std::min(32, nthreads - w * 32));
		W->warp_waiting[w] = 0;
	}
	for (int i = 0; i < nthreads; i++) {
		emu_fiber* f = &W->fibers[i];
		f->tid = (unsigned)i;
		f->state = RUNNABLE;
		start_fiber(f);
	}
	for (;;) {
		bool ran = false;
		for (int i = 0; i < nthreads; i++) {
			emu_fiber* f = &W->fibers[i];
			if (f->state != RUNNABLE) continue;
			resume(f);
			ran = true;
		}
		if (W->live == 0) return true;
		if (!ran) return false;
	}
}

extern "C" int emu_launch(const char* name, void** args, int gx, int gy, int gz, int bx, long long shmem,
		long long first, long long last) {
	auto it = registry().find(name);
	if (it == registry().end()) return 1;
	if (bx <= 0 || bx > kMaxThreads) return 2;
	if (!W) W = new worker();
	if (!ensure_stacks(bx)) return 3;
	W->kern = &it->second;
	W->args = args;
	if ((long long)W->dyn.size() < shmem) W->dyn.resize((size_t)shmem);
	emu_grid_dim = emu_dim3{(unsigned)gx, (unsigned)gy, (unsigned)gz};
	emu_block_dim = emu_dim3{(unsigned)bx, 1, 1};
	for (long long b = first; b < last; b++) {
		emu_block_idx = emu_dim3{(unsigned)(b % gx), (unsigned)((b / gx) % gy), (unsigned)(b / ((long long)gx * gy))};
		if (!run_block(bx)) return 4;
	}
	emu_current = nullptr;
	return 0;
}

// -------------------------------------------------------------------- GEMM

extern "C" void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float* a,
		int lda, const float* b, int ldb, float beta, float* c, int ldc);

static float half_to_f32(uint16_t h) {
	f16 x;
	x.bits = h;
	return to_f32(x);
}
static float bf16_to_f32(uint16_t h) {
	bf16 x;
	x.bits = h;
	return to_f32(x);
}

// widen converts cols columns of ld elements (column-major) to float32.
static const float* widen(const void* p, int type, long long n, std::vector<float>& buf) {
	if (type == EMU_F32) return (const float*)p;
	buf.resize((size_t)n);
	const uint16_t* h = (const uint16_t*)p;
	if (type == EMU_F16)
		for (long long i = 0; i < n; i++) buf[i] = half_to_f32(h[i]);
	else
		for (long long i = 0; i < n; i++) buf[i] = bf16_to_f32(h[i]);
	return buf.data();
}

extern "C" int emu_gemm(int transA, int transB, int m, int n, int k, float alpha, const void* a, int atype, int lda,
		long long strideA, const void* b, int btype, int ldb, long long strideB, float beta, float* c, int ldc,
		long long strideC, int batch) {
	const int ColMajor = 102, NoTrans = 111, Trans = 112;
	// elements spanned by one operand (column-major, ld × columns)
	long long aspan = (long long)lda * (transA ? m : k);
	long long bspan = (long long)ldb * (transB ? k : n);
	int esA = atype == EMU_F32 ? 4 : 2, esB = btype == EMU_F32 ? 4 : 2;
	std::vector<float> wa, wb;
	for (int i = 0; i < batch; i++) {
		const float* A = widen((const char*)a + i * strideA * esA, atype, aspan, wa);
		const float* B = widen((const char*)b + i * strideB * esB, btype, bspan, wb);
		cblas_sgemm(ColMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, A, lda, B, ldb,
				beta, c + i * strideC, ldc);
	}
	return 0;
}

// ----------------------------------------------------------------- memory

// emu_alloc maps size bytes that end 16 bytes before an inaccessible page,
// so a kernel that runs off the end of a buffer faults instead of
// silently corrupting its neighbour.
extern "C" void* emu_alloc(long long size, long long* mapped, void** base) {
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = ((size_t)size + 15) & ~(size_t)15;
	size_t len = ((body + page - 1) / page + 1) * page;
	void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) return nullptr;
	char* guard = (char*)p + len - page;
	mprotect(guard, page, PROT_NONE);
	*mapped = (long long)len;
	*base = p;
	return guard - body;
}

extern "C" void emu_free(void* base, long long mapped) { munmap(base, (size_t)mapped); }
