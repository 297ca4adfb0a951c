// Asking for a cache line before it is needed, for code whose lines another CPU touched last
// (a virtio device's rings and the frames it reads, served by a backend on another core).
#pragma once

namespace netfront::runtime {

// Asks for the cache line at `p` in a state this CPU may write, without waiting for it. A line
// another CPU touched last must be taken back from it before a store can complete; a store
// that waits for that holds its place in the store buffer, and a few dozen such stores fill it
// and stall the core. Asked ahead, the line's transfer overlaps other work.
// PREFETCHW, a no-op on CPUs without it (its opcode is in the hint-NOP space); compilers emit
// it only with -mprfchw, which DPDK's -march=corei7 leaves out (`__builtin_prefetch(p, 1)`
// then becomes a read prefetch, and the line still arrives shared).
inline void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" ::"m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1);
#endif
}

}  // namespace netfront::runtime
