// The CUDA subset memscope's kernels use, for g++ on the CPU. Every CUDA
// thread of a block is a fiber (its own stack) on one OS thread; the
// fibers of a block run one at a time until they reach a barrier
// (__syncthreads: the block; __syncwarp and the shuffles: the warp), so
// CUDA's block semantics hold: shared memory is per block (static
// thread_local, one block per OS thread at a time), registers per thread.
// Warp shuffles go through a per-block exchange area with two warp
// barriers. Blocks of a grid run on several OS threads. See emu.cc.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <utility>

#define KERNEL extern "C"
#define DEVICE static inline
#define __shared__ static thread_local
#define DYN_SHARED(T, name) T* name = (T*)emu_dynamic_shared()
#define MS_INF (__builtin_inff())

using std::max;
using std::min;

struct emu_dim3 {
	unsigned int x, y, z;
};

struct emu_fiber;
extern thread_local emu_fiber* emu_current;
extern thread_local emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;

unsigned int emu_thread_x();
void* emu_dynamic_shared();
void emu_syncthreads();
void emu_syncwarp();
// emu_exchange publishes this thread's 8-byte value to its warp and
// returns lane src's (its own when src is outside the warp).
uint64_t emu_exchange(uint64_t v, int src);

#define threadIdx (emu_dim3{emu_thread_x(), 0, 0})
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim
#define __syncthreads() emu_syncthreads()
#define __syncwarp(...) emu_syncwarp()

template <typename V>
static inline V emu_shfl(V v, int src) {
	static_assert(sizeof(V) <= 8, "shuffles move at most 8 bytes");
	uint64_t bits = 0;
	std::memcpy(&bits, &v, sizeof(V));
	bits = emu_exchange(bits, src);
	V out;
	std::memcpy(&out, &bits, sizeof(V));
	return out;
}

template <typename V>
static inline V __shfl_xor_sync(unsigned, V v, int laneMask) {
	return emu_shfl(v, (int)((emu_thread_x() & 31) ^ (unsigned)laneMask));
}
template <typename V>
static inline V __shfl_down_sync(unsigned, V v, int delta) {
	return emu_shfl(v, (int)(emu_thread_x() & 31) + delta);
}
template <typename V>
static inline V __shfl_sync(unsigned, V v, int srcLane) {
	return emu_shfl(v, srcLane);
}

// Kernel registration: REGISTER(name) after a kernel adds it to the launch
// table, with an invoker that unpacks CUDA-style kernel parameters (an
// array of pointers to each argument's value).
typedef void (*emu_invoker)(void* fn, void** args);
void emu_register(const char* name, void* fn, emu_invoker inv);

template <typename... A, size_t... I>
static inline void emu_call(void (*f)(A...), void** args, std::index_sequence<I...>) {
	f(*(A*)args[I]...);
}
template <typename... A>
static inline void emu_invoke(void* fn, void** args) {
	emu_call((void (*)(A...))fn, args, std::index_sequence_for<A...>{});
}
template <typename... A>
static inline emu_invoker emu_invoker_for(void (*)(A...)) {
	return &emu_invoke<A...>;
}
struct emu_registrar {
	template <typename F>
	emu_registrar(const char* name, F* f) {
		emu_register(name, (void*)f, emu_invoker_for(f));
	}
};
#define REGISTER(name) static emu_registrar emu_reg_##name(#name, &name);
