#include "drivers/virtio/device_side/device_ring.hpp"


#include "drivers/virtio/ring/ring_layout.hpp"
#include "drivers/virtio/ring/shared_memory.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::device_side {
namespace {

using namespace ring;

// A driver address is only followed if all of it lies in the device memory the driver gave
// (the regions a vhost-user backend is handed): a device must never be steered outside it.
std::byte* translate(std::uint64_t addr, std::uint32_t len) {
  auto* p = reinterpret_cast<std::byte*>(addr);
  if (addr == 0 || !runtime::DeviceMemory::contains(p, len)) return nullptr;
  return p;
}

// §2.7.5.3 / §2.8.19: the table a descriptor with VIRTQ_DESC_F_INDIRECT points at, checked
// before any entry is used: feature negotiated, not combined with NEXT, a whole number of
// entries, at least one and no more than the queue size, inside driver memory.
template <typename Desc>
const Desc* indirect_table(bool negotiated, std::uint16_t flags, std::uint64_t addr, std::uint32_t len,
                           std::uint16_t queue_size, std::uint16_t& entries, const char*& why) {
  if (!negotiated) return why = "indirect descriptor without VIRTIO_F_INDIRECT_DESC", nullptr;
  if (flags & VIRTQ_DESC_F_NEXT) return why = "indirect descriptor with NEXT set", nullptr;
  if (len == 0 || len % sizeof(Desc) != 0 || len / sizeof(Desc) > queue_size)
    return why = "indirect table length is not 1..queue-size whole descriptors", nullptr;
  entries = static_cast<std::uint16_t>(len / sizeof(Desc));
  const Desc* table = reinterpret_cast<const Desc*>(translate(addr, len));
  if (!table) why = "indirect table outside driver memory";
  return table;
}

class SplitDeviceRing final : public DeviceRing {
 public:
  SplitDeviceRing(std::uint16_t size, const QueueAddresses& a, bool event_idx, bool indirect)
      : DeviceRing("split"),
        size_(size),
        event_idx_(event_idx),
        indirect_(indirect),
        desc_(reinterpret_cast<const virtq_desc*>(a.desc)),
        avail_(reinterpret_cast<const std::uint16_t*>(a.driver)),
        used_(reinterpret_cast<std::uint16_t*>(a.device)) {}

  bool pop(DeviceChain& out) override {
    if (faulted_) return false;
    const std::uint16_t avail_idx = read_shared_acquire(&avail_[1]);
    if (avail_idx == next_avail_) return false;
    if (static_cast<std::uint16_t>(avail_idx - next_avail_) > size_) return fault("avail index ran ahead");  // E4
    const std::uint16_t head = read_shared(&avail_[2 + (next_avail_ % size_)]);
    ++next_avail_;
    if (head >= size_) return fault("avail head out of range");
    out.id = head;
    out.descriptors = 0;
    out.indirect = false;
    out.segments.clear();
    last_chain_.clear();
    std::uint16_t d = head;
    for (;;) {
      if (++out.descriptors > size_) return fault("descriptor chain loops");  // E2
      last_chain_.push_back(d);
      const virtq_desc desc = desc_[d];
      if (desc.flags & VIRTQ_DESC_F_INDIRECT) {
        if (out.descriptors != 1) return fault("indirect descriptor inside a chain");
        return pop_indirect(desc, out);
      }
      if (!add_segment(out, desc.addr, desc.len, desc.flags)) return false;
      if (!(desc.flags & VIRTQ_DESC_F_NEXT)) break;
      if (desc.next >= size_) return fault("descriptor next out of range");
      d = desc.next;
    }
    return true;
  }

  // The chain lives in the table; its links are indices into the table (§2.7.5.3.1).
  bool pop_indirect(const virtq_desc& head, DeviceChain& out) {
    out.indirect = true;
    std::uint16_t entries = 0;
    const char* why = nullptr;
    const virtq_desc* table = indirect_table<virtq_desc>(indirect_, head.flags, head.addr, head.len, size_, entries, why);
    if (!table) return fault(why);
    std::uint16_t i = 0;
    for (std::uint16_t walked = 1;; ++walked) {
      if (walked > entries) return fault("indirect chain loops");
      const virtq_desc desc = table[i];
      if (desc.flags & VIRTQ_DESC_F_INDIRECT) return fault("indirect descriptor inside an indirect table");
      if (!add_segment(out, desc.addr, desc.len, desc.flags)) return false;
      if (!(desc.flags & VIRTQ_DESC_F_NEXT)) return true;
      if (desc.next >= entries) return fault("indirect next out of range");
      i = desc.next;
    }
  }

  void push_used(UsedWrite used, std::uint16_t) override {
    auto* ring = reinterpret_cast<virtq_used_elem*>(used_ + 2);
    ring[used_next_ % size_] = {used.id, used.len};
    ++used_next_;
  }

  void push_used_batch(UsedWrite last, std::uint16_t chains, std::uint16_t) override {
    auto* ring = reinterpret_cast<virtq_used_elem*>(used_ + 2);
    ring[used_next_ % size_] = {last.id, last.len};
    used_next_ = static_cast<std::uint16_t>(used_next_ + chains);  // the index moves by the batch
  }

  void publish_used() override { write_shared_release(&used_[1], used_next_); }

  // §2.7.10: flags 0 asks for every notification; with event indices, avail_event (after the
  // used ring) names the next index we want to hear about.
  void request_notifications() override {
    if (event_idx_) write_shared(&used_[2 + 4 * size_], next_avail_);
  }

  void corrupt_used_index(std::uint16_t delta) override {
    used_next_ = static_cast<std::uint16_t>(used_next_ + delta);
    publish_used();
  }

  void scribble_last_chain() override {
    auto* table = const_cast<virtq_desc*>(desc_);
    for (std::uint16_t d : last_chain_) table[d] = {0xdeadbeef, 0xffffffff, 0xffff, 0xffff};
  }

 private:
  std::uint16_t size_;
  bool event_idx_;
  bool indirect_;
  const virtq_desc* desc_;
  const std::uint16_t* avail_;  // flags, idx, ring[size], used_event
  std::uint16_t* used_;         // flags, idx, ring[size] (as elems), avail_event
  std::uint16_t next_avail_ = 0;
  std::uint16_t used_next_ = 0;
  std::vector<std::uint16_t> last_chain_;
};

class PackedDeviceRing final : public DeviceRing {
 public:
  PackedDeviceRing(std::uint16_t size, const QueueAddresses& a, bool indirect)
      : DeviceRing("packed"), size_(size), indirect_(indirect), desc_(reinterpret_cast<pvirtq_desc*>(a.desc)) {}

  bool pop(DeviceChain& out) override {
    if (faulted_) return false;
    const pvirtq_desc& first = desc_[next_avail_];
    const std::uint16_t flags = read_shared_acquire(&first.flags);
    // §2.8.1: available when AVAIL matches our wrap counter and USED does not.
    const bool avail = flags & VIRTQ_DESC_F_AVAIL, used = flags & VIRTQ_DESC_F_USED;
    if (avail != avail_wrap_ || used == avail_wrap_) return false;
    out.segments.clear();
    out.descriptors = 0;
    out.indirect = false;
    std::uint16_t slot = next_avail_;
    bool wrap = avail_wrap_;
    for (;;) {
      if (++out.descriptors > size_) return fault("descriptor chain longer than the ring");
      const pvirtq_desc d = desc_[slot];
      if (d.flags & VIRTQ_DESC_F_INDIRECT) {
        if (out.descriptors != 1) return fault("indirect descriptor inside a chain");
        if (!pop_indirect(d, out)) return false;
      } else {
        if (!add_segment(out, d.addr, d.len, d.flags)) return false;
      }
      out.id = d.id;  // §2.8.6: the last descriptor's id names the buffer
      if (++slot == size_) {
        slot = 0;
        wrap = !wrap;
      }
      if (!(d.flags & VIRTQ_DESC_F_NEXT)) break;
    }
    if (out.id >= size_) return fault("buffer id out of range");
    last_first_ = next_avail_;
    last_count_ = out.descriptors;
    next_avail_ = slot;
    avail_wrap_ = wrap;
    return true;
  }

  // §2.8.19: a table is read in order, its length says how many entries; only WRITE counts.
  bool pop_indirect(const pvirtq_desc& head, DeviceChain& out) {
    out.indirect = true;
    std::uint16_t entries = 0;
    const char* why = nullptr;
    const pvirtq_desc* table = indirect_table<pvirtq_desc>(indirect_, head.flags, head.addr, head.len, size_, entries, why);
    if (!table) return fault(why);
    for (std::uint16_t i = 0; i < entries; ++i) {
      const pvirtq_desc d = table[i];
      if (d.flags & VIRTQ_DESC_F_INDIRECT) return fault("indirect descriptor inside an indirect table");
      if (!add_segment(out, d.addr, d.len, d.flags)) return false;
    }
    return true;
  }

  void push_used(UsedWrite used, std::uint16_t descriptors) override {
    pvirtq_desc& d = desc_[next_used_];
    d.id = static_cast<std::uint16_t>(used.id);
    d.len = used.len;
    const auto flags = static_cast<std::uint16_t>(
        VIRTQ_DESC_F_WRITE | (used_wrap_ ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0));
    write_shared_release(&d.flags, flags);  // §2.8.4: used when AVAIL == USED == wrap counter
    skip(descriptors);
  }

  void push_used_batch(UsedWrite last, std::uint16_t, std::uint16_t descriptors) override {
    push_used(last, descriptors);
  }

  void publish_used() override {}
  // The device event suppression area stays zeroed: RING_EVENT_FLAGS_ENABLE (§2.8.10).
  void request_notifications() override {}

  void corrupt_used_index(std::uint16_t) override {
    pvirtq_desc& d = desc_[next_used_];
    write_shared_release(&d.flags, static_cast<std::uint16_t>(used_wrap_ ? VIRTQ_DESC_F_USED : VIRTQ_DESC_F_AVAIL));
  }

  void scribble_last_chain() override {
    // Addresses, lengths and ids only: the flags still say "available" until the device marks
    // the slot used, as the ring protocol requires.
    for (std::uint16_t i = 0, s = last_first_; i < last_count_; ++i, s = static_cast<std::uint16_t>((s + 1) % size_)) {
      desc_[s].addr = 0xdeadbeef;
      desc_[s].len = 0xffffffff;
      desc_[s].id = 0xffff;
    }
  }

 private:
  void skip(std::uint16_t n) {
    next_used_ = static_cast<std::uint16_t>(next_used_ + n);
    if (next_used_ >= size_) {
      next_used_ = static_cast<std::uint16_t>(next_used_ - size_);
      used_wrap_ = !used_wrap_;
    }
  }
  std::uint16_t size_;
  bool indirect_;
  pvirtq_desc* desc_;
  std::uint16_t next_avail_ = 0;
  bool avail_wrap_ = true;
  std::uint16_t next_used_ = 0;
  bool used_wrap_ = true;
  std::uint16_t last_first_ = 0, last_count_ = 0;
};

}  // namespace

std::uint32_t DeviceChain::readable_bytes() const noexcept {
  std::uint32_t n = 0;
  for (const auto& s : segments)
    if (!s.writable) n += s.len;
  return n;
}

std::uint32_t DeviceChain::writable_bytes() const noexcept {
  std::uint32_t n = 0;
  for (const auto& s : segments)
    if (s.writable) n += s.len;
  return n;
}

bool DeviceRing::fault(const char* why) {
  runtime::logger("loop").error("{} device ring: {}", layout_, why);
  faulted_ = true;
  return false;
}

bool DeviceRing::add_segment(DeviceChain& out, std::uint64_t addr, std::uint32_t len, std::uint16_t flags) {
  // As QEMU's virtqueue_pop does ("zero sized buffers are not allowed"): a device may take a
  // zero-length descriptor for a broken driver.
  if (len == 0) return fault("zero-length descriptor");
  std::byte* p = translate(addr, len);
  if (!p) return fault("descriptor address outside driver memory");
  out.segments.push_back({p, len, static_cast<bool>(flags & VIRTQ_DESC_F_WRITE)});
  return true;
}

std::unique_ptr<DeviceRing> make_device_ring(std::uint64_t features, std::uint16_t size, const QueueAddresses& a) {
  const bool indirect = has_feature(features, VIRTIO_F_INDIRECT_DESC);
  if (has_feature(features, VIRTIO_F_RING_PACKED)) return std::make_unique<PackedDeviceRing>(size, a, indirect);
  return std::make_unique<SplitDeviceRing>(size, a, has_feature(features, VIRTIO_F_EVENT_IDX), indirect);
}

}  // namespace netfront::virtio::device_side
