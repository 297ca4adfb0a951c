// The one place where the driver touches memory the device can write (rings, event
// suppression areas, buffer contents it hands back). Every read is a single load of the whole
// field, so a racing device cannot make two reads of "the same" value disagree (checklist B7,
// C10: read once into a local, validate the local, use the local). Writes the device must see
// in order use release stores, and the few places that must order a store before a load use
// full_fence() (x86 reorders store-then-load, §2.7.13 "suitable memory barrier").
//
// Keeping this in one header is what lets fuzzers and fault injection reach every such read.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace netfront::virtio::ring {

template <typename T>
inline T read_shared(const T* p) noexcept {
  static_assert(std::is_integral_v<T>);
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

// A load after which later loads cannot be hoisted: for "index first, then the entries".
template <typename T>
inline T read_shared_acquire(const T* p) noexcept {
  static_assert(std::is_integral_v<T>);
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

template <typename T>
inline void write_shared(T* p, T v) noexcept {
  static_assert(std::is_integral_v<T>);
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

// A store that publishes everything written before it (descriptors before the index).
template <typename T>
inline void write_shared_release(T* p, T v) noexcept {
  static_assert(std::is_integral_v<T>);
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

inline void full_fence() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }

}  // namespace netfront::virtio::ring
