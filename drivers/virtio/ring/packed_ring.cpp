#include "drivers/virtio/ring/packed_ring.hpp"

#include "drivers/virtio/ring/shared_memory.hpp"
#include "drivers/virtio/ring/virtqueue.hpp"

namespace netfront::virtio::ring {

static Result<> check_size(const RingOptions& o) {
  // §2.8: up to 2^15 entries, no power-of-two requirement.
  if (o.size == 0 || o.size > kMaxQueueSize)
    return Fault(RingError::BadSize, "packed queue size " + std::to_string(o.size) + " is not from 1 to 32768");
  return Ok{};
}

Result<PackedRing> PackedRing::create(const RingOptions& o) {
  if (auto ok = check_size(o); !ok) return std::move(ok).error();
  auto mem = DmaMemory::allocate(PackedLayout::of(o.size).total, 4096, o.address_mode, o.socket);
  if (!mem) return std::move(mem).error();
  auto indirect = allocate_indirect_tables(o, sizeof(pvirtq_desc));
  if (!indirect) return std::move(indirect).error();
  return PackedRing(o, std::move(*mem), std::move(*indirect));
}

Result<PackedRing> PackedRing::over(const RingOptions& o, DmaMemory ring, DmaMemory indirect) {
  if (auto ok = check_size(o); !ok) return std::move(ok).error();
  if (auto ok = check_ring_memory(o, ring, PackedLayout::of(o.size).total, indirect, sizeof(pvirtq_desc)); !ok) return std::move(ok).error();
  return PackedRing(o, std::move(ring), std::move(indirect));
}

PackedRing::PackedRing(const RingOptions& o, DmaMemory mem, DmaMemory indirect)
    : RingCore(o, std::move(mem), std::move(indirect)), event_idx_(o.event_idx), free_ids_(o.in_order ? 0 : o.size) {
  const auto layout = PackedLayout::of(size_);
  std::byte* base = mem_.data();
  desc_ = reinterpret_cast<pvirtq_desc*>(base + layout.desc_offset);
  driver_event_ = reinterpret_cast<pvirtq_event_suppress*>(base + layout.driver_event_offset);
  device_event_ = reinterpret_cast<const pvirtq_event_suppress*>(base + layout.device_event_offset);
  init_state();
}

void PackedRing::init_state() noexcept {
  mem_.zero();  // §2.8.13: the descriptor ring is zero-initialized
  for (std::size_t i = 0; i < free_ids_.size(); ++i) free_ids_[i] = static_cast<std::uint16_t>(size_ - 1 - i);
  free_top_ = static_cast<std::uint16_t>(free_ids_.size());
  num_free_ = size_;
  next_avail_ = next_used_ = published_avail_ = 0;
  avail_wrap_ = used_wrap_ = published_wrap_ = true;
  batch_first_ = nullptr;
  reset_core();
  disable_notifications();
}

QueueAddresses PackedRing::addresses() const noexcept {
  const auto layout = PackedLayout::of(size_);
  const std::uint64_t base = mem_.device_address();
  return {base + layout.desc_offset, base + layout.driver_event_offset, base + layout.device_event_offset};
}

bool PackedRing::add(std::span<const Segment> chain, std::uint64_t token) noexcept {
  if (chain.size() == 1) return add_one(chain[0], token);
  const auto n = static_cast<std::uint16_t>(chain.size());
  if (broken() || chain.empty() || chain.size() > num_free_) return false;  // E2
  const std::uint16_t head = next_avail_;
  const std::uint16_t id = take_id(head);
  std::uint16_t head_flags = 0;
  for (std::uint16_t i = 0; i < n; ++i) {
    const Segment& s = chain[i];
    pvirtq_desc& d = desc_[next_avail_];
    d.addr = s.addr;
    if (i > 0) {  // the head's len and id go with its flags, below
      d.len = s.len;
      d.id = id;  // §2.8.6: the id counts in the last descriptor; writing it everywhere is harmless
    }
    // §2.8.1: AVAIL equal to the driver wrap counter, USED its inverse.
    const auto flags = static_cast<std::uint16_t>((s.device_writable ? VIRTQ_DESC_F_WRITE : 0) |
                                                  (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
                                                  (avail_wrap_ ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED));
    if (i == 0)
      head_flags = flags;
    else
      write_shared(&d.flags, flags);
    if (++next_avail_ == size_) {
      next_avail_ = 0;
      avail_wrap_ = !avail_wrap_;
    }
  }
  // §2.8.6: the first descriptor goes live last, after everything it leads to.
  make_available(desc_[head], chain[0].len, id, head_flags);
  num_free_ = static_cast<std::uint16_t>(num_free_ - n);
  inflight_.start(id, token, n);
  return true;
}

bool PackedRing::add_indirect(std::span<const Segment> chain, std::uint64_t token) noexcept {
  const auto n = static_cast<std::uint16_t>(chain.size());
  // §2.7.5.2: the table's entries count towards the chain length, which the queue size bounds.
  if (broken() || n == 0 || n > indirect_max_ || n > size_ || num_free_ == 0) return false;
  const std::uint16_t id = take_id(next_avail_);
  // The table belongs to the buffer id, which is ours until the device uses it.
  const std::size_t table_offset = std::size_t{id} * indirect_max_ * sizeof(pvirtq_desc);
  auto* table = reinterpret_cast<pvirtq_desc*>(indirect_.data() + table_offset);
  for (std::uint16_t i = 0; i < n; ++i)  // §2.8.19: read in order; only WRITE counts in a table
    table[i] = {chain[i].addr, chain[i].len, 0, static_cast<std::uint16_t>(chain[i].device_writable ? VIRTQ_DESC_F_WRITE : 0)};
  pvirtq_desc& d = desc_[next_avail_];
  d.addr = indirect_.device_address() + table_offset;
  const auto flags = static_cast<std::uint16_t>(VIRTQ_DESC_F_INDIRECT | (avail_wrap_ ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED));
  // The table and the descriptor's address before its flags.
  make_available(d, static_cast<std::uint32_t>(n * sizeof(pvirtq_desc)), id, flags);
  if (++next_avail_ == size_) {
    next_avail_ = 0;
    avail_wrap_ = !avail_wrap_;
  }
  --num_free_;
  inflight_.start(id, token, 1);
  return true;
}

bool PackedRing::publish() noexcept {
  if (broken() || (next_avail_ == published_avail_ && avail_wrap_ == published_wrap_)) return false;
  write_shared_release(&batch_first_->flags, batch_first_flags_);  // the whole batch goes live
  batch_first_ = nullptr;
  const std::uint16_t old = published_avail_;
  const bool old_wrap = published_wrap_;
  published_avail_ = next_avail_;
  published_wrap_ = avail_wrap_;
  full_fence();  // §2.8.21: flags before reading the device's suppression structure
  const std::uint16_t flags = read_shared(&device_event_->flags) & 0x3;
  if (flags == RING_EVENT_FLAGS_DISABLE) return false;
  if (flags != RING_EVENT_FLAGS_DESC || !event_idx_) return true;  // ENABLE (or DESC we did not negotiate)
  // RING_EVENT_FLAGS_DESC: notify only if the event descriptor was made available in
  // [old, new). Positions are counted on a line that spans the last two laps of the ring.
  const std::uint16_t off_wrap = read_shared(&device_event_->off_wrap);
  const std::uint32_t event_off = off_wrap & 0x7fff;
  const bool event_wrap = off_wrap >> 15;
  if (event_off >= size_) return true;  // nonsense offset: a spurious notification is harmless
  const auto lap = [&](std::uint16_t pos, bool wrap) { return pos + (wrap == avail_wrap_ ? size_ : 0u); };
  const std::uint32_t from = lap(old, old_wrap), to = lap(next_avail_, avail_wrap_),
                      event = lap(static_cast<std::uint16_t>(event_off), event_wrap);
  if (to <= from || to - from >= size_) return true;  // a lap or more since the last publish
  return event >= from && event < to;
}

// The next used descriptor, read once and checked; take_used() has served any batch before.
bool PackedRing::take_next_used(UsedChain& out) noexcept {
  if (broken()) return false;
  if (!used_slot_live()) return false;
  const pvirtq_desc& d = desc_[next_used_];
  const std::uint16_t flags = read_shared_acquire(&d.flags);
  const bool used = flags & VIRTQ_DESC_F_USED;
  if (used != used_wrap_) return false;
  if (static_cast<bool>(flags & VIRTQ_DESC_F_AVAIL) != used_wrap_) {
    mark_broken(RingError::PackedFlagsInvalid);  // B5: a used descriptor has AVAIL == USED
    return false;
  }
  const std::uint16_t id = read_shared(&d.id);  // B7: read once
  const std::uint32_t len = read_shared(&d.len);
  if (!used_id_valid(id)) return false;  // B1, B2
  if (in_order_) {
    // §2.8.8: one used descriptor may stand for every buffer up to and including `id` (B6).
    if (!start_batch(id, len, inflight_.count())) return false;
    return take_from_batch(out);
  }
  return_free_id(id);
  return complete(inflight_.finish(id), len, true, out);
}

bool PackedRing::has_used() const noexcept {
  if (batch_left_ > 0) return true;
  if (!used_slot_live()) return false;
  const bool used = read_shared_acquire(&desc_[next_used_].flags) & VIRTQ_DESC_F_USED;
  return used == used_wrap_;
}

void PackedRing::disable_notifications() noexcept { write_shared(&driver_event_->flags, RING_EVENT_FLAGS_DISABLE); }

bool PackedRing::enable_notifications() noexcept {
  write_shared(&driver_event_->flags, RING_EVENT_FLAGS_ENABLE);
  full_fence();
  return has_used();
}

static_assert(Virtqueue<PackedRing>);

}  // namespace netfront::virtio::ring
