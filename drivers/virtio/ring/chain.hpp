// What the device layer hands a ring (a chain of segments) and what it gets back (a used chain).
#pragma once

#include <cstdint>

namespace netfront::virtio::ring {

struct Segment {
  std::uint64_t addr;  // as the device must see it (see AddressMode)
  std::uint32_t len;
  bool device_writable;
};

struct UsedChain {
  std::uint64_t token;  // what the caller attached to the chain
  std::uint32_t len;    // bytes the device wrote (only meaningful when len_valid)
  bool len_valid;       // false for chains an in-order batch completed without an entry of their own
};

// Where the device finds a queue's three parts (§4.1.4.3 queue_desc/driver/device).
struct QueueAddresses {
  std::uint64_t desc;
  std::uint64_t driver;  // split: available ring; packed: driver event suppression
  std::uint64_t device;  // split: used ring; packed: device event suppression
};

}  // namespace netfront::virtio::ring
