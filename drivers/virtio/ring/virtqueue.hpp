// The driver side of a virtqueue, whatever its layout (virtio 1.2 §2.7 split, §2.8 packed):
// the interface the device layer is written against, stated once. SplitRing and PackedRing
// satisfy it; the queues above them (net/rx_queue.hpp, net/tx_queue.hpp, net/control_queue)
// are templates over a Virtqueue.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/ring/ring_error.hpp"
#include "drivers/virtio/ring/ring_options.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::ring {

template <typename R>
concept Virtqueue = std::movable<R> && requires(R ring, const R& cring, const RingOptions& options,
                                                 std::span<const Segment> chain, const Segment& segment,
                                                 std::uint64_t token, UsedChain& used, RingError why) {
  // Made in device memory of its own, or over memory the caller provides.
  { R::create(options) } -> std::same_as<Result<R>>;
  { R::over(options, DmaMemory{}, DmaMemory{}) } -> std::same_as<Result<R>>;
  // What the device is told at set-up (§4.1.4.3 queue_desc/driver/device) and the ring's size.
  { cring.addresses() } -> std::same_as<QueueAddresses>;
  { cring.size() } -> std::same_as<std::uint16_t>;
  // Placing chains: false (nothing changed) when there is no room or the ring is broken.
  { cring.free_descriptors() } -> std::same_as<std::uint16_t>;
  { ring.add(chain, token) } -> std::same_as<bool>;
  { ring.add_one(segment, token) } -> std::same_as<bool>;
  { ring.add_indirect(chain, token) } -> std::same_as<bool>;
  { cring.has_indirect() } -> std::same_as<bool>;
  // Exposing them, one index or flags store per burst: true when the device wants a doorbell.
  { ring.publish() } -> std::same_as<bool>;
  // Completions, each validated before its token is handed back.
  { ring.take_used(used) } -> std::same_as<bool>;
  { ring.drain_used([](std::uint64_t) {}) } -> std::same_as<unsigned>;
  { cring.has_used() } -> std::same_as<bool>;
  { cring.in_flight() } -> std::same_as<std::uint16_t>;
  // Used-buffer notifications (§2.7.7, §2.8.10): off while polling; on before sleeping,
  // saying whether work is already there.
  { ring.disable_notifications() } -> std::same_as<void>;
  { ring.enable_notifications() } -> std::same_as<bool>;
  // The device broke a rule: the ring says which, and is not used again until reset.
  { cring.broken() } -> std::same_as<bool>;
  { cring.error() } -> std::same_as<RingError>;
  { ring.mark_broken(why) } -> std::same_as<void>;
  // After a device reset: every chain in flight dropped, the ring empty again; or, when the
  // device was not confirmed stopped (A12), its memory left to the device for good.
  { ring.reset([](std::uint64_t) {}) } -> std::same_as<void>;
  { ring.abandon() } -> std::same_as<void>;
};

}  // namespace netfront::virtio::ring
