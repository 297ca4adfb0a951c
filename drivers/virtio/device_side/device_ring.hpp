// The device side of a virtqueue, for the in-process device and for the control queue a
// transport serves itself (vhost-user): it finds the chains the driver made available and hands buffers back as used, following the device rules of virtio 1.2
// §2.7 (split) and §2.8 (packed). It is written from the spec independently of the driver's
// rings, so the two sides check each other. Addresses are the driver's virtual addresses
// (both users run in IOVA-as-VA mode) and each one is checked against the driver's device
// memory (what a vhost-user backend is given) before it is touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "drivers/virtio/ring/chain.hpp"

namespace netfront::virtio::device_side {

struct DeviceSegment {
  std::byte* data;
  std::uint32_t len;
  bool writable;
};

struct DeviceChain {
  std::uint16_t id = 0;           // what the used entry must name
  std::uint16_t descriptors = 0;  // how many ring slots it took (packed)
  bool indirect = false;          // its descriptors came from an indirect table
  std::vector<DeviceSegment> segments;
  std::uint32_t readable_bytes() const noexcept;
  std::uint32_t writable_bytes() const noexcept;
};

// A raw used entry as a misbehaving device might write it: any id, any length.
struct UsedWrite {
  std::uint32_t id;
  std::uint32_t len;
};

class DeviceRing {
 public:
  virtual ~DeviceRing() = default;
  // The next available chain, or false. A malformed chain (bad address, loop, too long) is
  // reported through `fault` and the ring stops.
  virtual bool pop(DeviceChain& out) = 0;
  // Writes a used entry now (visible at the next publish for split; at once for packed).
  // `descriptors` is the chain's slot count, needed to keep packed ring positions.
  virtual void push_used(UsedWrite used, std::uint16_t descriptors) = 0;
  // In-order batch (§2.7.9, §2.8.8): one entry naming the batch's last chain stands for
  // `chains` chains of `descriptors` slots in all.
  virtual void push_used_batch(UsedWrite last, std::uint16_t chains, std::uint16_t descriptors) = 0;
  virtual void publish_used() = 0;
  // Ask the driver to notify us of new buffers (a device that sleeps would; the loop device
  // does it so tests can count doorbells).
  virtual void request_notifications() = 0;
  // Misbehaviour: move the used index by `delta` without writing entries (split), or write a
  // used descriptor whose AVAIL and USED bits disagree (packed).
  virtual void corrupt_used_index(std::uint16_t delta) = 0;
  // Misbehaviour (B4): overwrite the descriptors of the chain pop() just returned, as a
  // device may once it owns them. A driver that reads them back would then go wrong.
  virtual void scribble_last_chain() = 0;
  bool faulted() const noexcept { return faulted_; }

 protected:
  explicit DeviceRing(const char* layout) : layout_(layout) {}
  // Stops the ring for good and logs why; false, for `return fault(...)`.
  bool fault(const char* why);
  // Appends one descriptor's buffer to `out`, once all of it is known to lie in driver memory.
  bool add_segment(DeviceChain& out, std::uint64_t addr, std::uint32_t len, std::uint16_t flags);
  bool faulted_ = false;

 private:
  const char* layout_;  // "split", "packed": for log lines
};

// The ring of the layout and features the driver negotiated (VIRTIO_F_RING_PACKED,
// VIRTIO_F_EVENT_IDX; without VIRTIO_F_INDIRECT_DESC an indirect descriptor is a fault).
std::unique_ptr<DeviceRing> make_device_ring(std::uint64_t features, std::uint16_t size, const ring::QueueAddresses& a);

}  // namespace netfront::virtio::device_side
