// Interposes malloc, calloc, realloc and the aligned variants: the executable's definitions win
// over glibc's for every library in the process (libstdc++'s operator new, DPDK, spdlog), and
// forward to glibc's own entry points. Only allocations on a thread inside an
// AllocationCounter scope are counted.
#include "alloc_counter.hpp"

#include <cerrno>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
__thread bool g_counting = false;
__thread std::size_t g_count = 0;
inline void note() noexcept {
  if (g_counting) ++g_count;
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  note();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t m) {
  note();
  return __libc_calloc(n, m);
}
void* realloc(void* p, std::size_t n) {
  note();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
  note();
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  note();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  note();
  void* p = __libc_memalign(a, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}

namespace netfront::testing {

AllocationCounter::AllocationCounter() noexcept {
  g_count = 0;
  g_counting = true;
}
AllocationCounter::~AllocationCounter() { g_counting = false; }
std::size_t AllocationCounter::count() const noexcept { return g_count; }

}  // namespace netfront::testing
