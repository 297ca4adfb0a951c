#include "drivers/virtio/ring/split_ring.hpp"

#include "drivers/virtio/ring/shared_memory.hpp"
#include "drivers/virtio/ring/virtqueue.hpp"

namespace netfront::virtio::ring {

static Result<> check_size(const RingOptions& o) {
  // §2.7: split queue sizes are powers of two up to 32768.
  if (o.size == 0 || o.size > kMaxQueueSize || (o.size & (o.size - 1)) != 0)
    return Fault(RingError::BadSize, "split queue size " + std::to_string(o.size) + " is not a power of two from 1 to 32768");
  return Ok{};
}

Result<SplitRing> SplitRing::create(const RingOptions& o) {
  if (auto ok = check_size(o); !ok) return std::move(ok).error();
  auto mem = DmaMemory::allocate(SplitLayout::of(o.size, used_ring_align(o)).total, 4096, o.address_mode, o.socket);
  if (!mem) return std::move(mem).error();
  auto indirect = allocate_indirect_tables(o, sizeof(virtq_desc));
  if (!indirect) return std::move(indirect).error();
  return SplitRing(o, std::move(*mem), std::move(*indirect));
}

Result<SplitRing> SplitRing::over(const RingOptions& o, DmaMemory ring, DmaMemory indirect) {
  if (auto ok = check_size(o); !ok) return std::move(ok).error();
  if (auto ok = check_ring_memory(o, ring, SplitLayout::of(o.size, used_ring_align(o)).total, indirect, sizeof(virtq_desc)); !ok) return std::move(ok).error();
  return SplitRing(o, std::move(ring), std::move(indirect));
}

SplitRing::SplitRing(const RingOptions& o, DmaMemory mem, DmaMemory indirect)
    : RingCore(o, std::move(mem), std::move(indirect)), mask_(static_cast<std::uint16_t>(o.size - 1)),
      event_idx_(o.event_idx), layout_(SplitLayout::of(o.size, used_ring_align(o))), next_(o.size) {
  const SplitLayout& layout = layout_;
  std::byte* base = mem_.data();
  desc_ = reinterpret_cast<virtq_desc*>(base + layout.desc_offset);
  auto* avail = reinterpret_cast<std::uint16_t*>(base + layout.avail_offset);
  avail_flags_ = avail;
  avail_idx_ = avail + 1;
  avail_ring_ = avail + 2;
  used_event_ = avail + 2 + size_;
  auto* used = reinterpret_cast<std::uint16_t*>(base + layout.used_offset);
  used_flags_ = used;
  used_idx_ = used + 1;
  used_ring_ = reinterpret_cast<const virtq_used_elem*>(used + 2);
  avail_event_ = reinterpret_cast<const std::uint16_t*>(used_ring_ + size_);
  init_state();
}

void SplitRing::init_state() noexcept {
  mem_.zero();  // §2.7.10: the used ring flags start at 0
  for (std::uint16_t i = 0; i < size_; ++i) next_[i] = static_cast<std::uint16_t>((i + 1) & mask_);
  free_head_ = 0;
  num_free_ = size_;
  avail_next_ = avail_published_ = last_used_ = used_seen_ = 0;
  reset_core();
  disable_notifications();
}

QueueAddresses SplitRing::addresses() const noexcept {
  const std::uint64_t base = mem_.device_address();
  return {base + layout_.desc_offset, base + layout_.avail_offset, base + layout_.used_offset};
}

// Out of order, descriptors come off a free list linked through next_. In order (§2.7.5),
// the driver must use the table sequentially, so free_head_ is simply the next descriptor and
// next_[i] stays i + 1 (mod size) forever.
std::uint16_t SplitRing::alloc_descriptors(std::uint16_t n) noexcept {
  const std::uint16_t head = free_head_;
  std::uint16_t last = head;
  for (std::uint16_t i = 1; i < n; ++i) last = next_[last];
  free_head_ = next_[last];
  num_free_ = static_cast<std::uint16_t>(num_free_ - n);
  return head;
}

void SplitRing::free_chain(std::uint16_t head, std::uint16_t descriptors) noexcept {
  num_free_ = static_cast<std::uint16_t>(num_free_ + descriptors);
  if (in_order_) return;  // in order, the oldest chain is always the next to free: nothing moves
  std::uint16_t last = head;
  for (std::uint16_t i = 1; i < descriptors; ++i) last = next_[last];
  next_[last] = free_head_;
  free_head_ = head;
}

bool SplitRing::add(std::span<const Segment> chain, std::uint64_t token) noexcept {
  if (chain.size() == 1) return add_one(chain[0], token);
  const auto n = static_cast<std::uint16_t>(chain.size());
  // E2: a chain is never empty and never longer than the free descriptors (<= queue size).
  if (broken() || chain.empty() || chain.size() > num_free_) return false;
  const std::uint16_t head = alloc_descriptors(n);
  std::uint16_t d = head;
  for (std::uint16_t i = 0; i < n; ++i) {
    const Segment& s = chain[i];
    virtq_desc& desc = desc_[d];
    desc.addr = s.addr;
    desc.len = s.len;
    const bool more = i + 1 < n;
    desc.flags = static_cast<std::uint16_t>((s.device_writable ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0));
    desc.next = more ? next_[d] : 0;
    d = next_[d];
  }
  avail_ring_[avail_next_ & mask_] = head;
  ++avail_next_;
  inflight_.start(head, token, n);
  return true;
}

bool SplitRing::add_indirect(std::span<const Segment> chain, std::uint64_t token) noexcept {
  const auto n = static_cast<std::uint16_t>(chain.size());
  // §2.7.5.2: the table's entries count towards the chain length, which the queue size bounds.
  if (broken() || n == 0 || n > indirect_max_ || n > size_ || num_free_ == 0) return false;
  const std::uint16_t head = alloc_descriptors(1);
  // The table belongs to the head descriptor, and the head is ours until the device gives it
  // back, so the table is never rewritten while the device may read it.
  const std::size_t table_offset = std::size_t{head} * indirect_max_ * sizeof(virtq_desc);
  auto* table = reinterpret_cast<virtq_desc*>(indirect_.data() + table_offset);
  for (std::uint16_t i = 0; i < n; ++i) {
    const bool more = i + 1 < n;
    table[i] = {chain[i].addr, chain[i].len,
                static_cast<std::uint16_t>((chain[i].device_writable ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0)),
                static_cast<std::uint16_t>(more ? i + 1 : 0)};
  }
  // §2.7.5.3.1: INDIRECT alone on the ring descriptor (never with NEXT or WRITE).
  desc_[head] = {indirect_.device_address() + table_offset, static_cast<std::uint32_t>(n * sizeof(virtq_desc)),
                 VIRTQ_DESC_F_INDIRECT, 0};
  avail_ring_[avail_next_ & mask_] = head;
  ++avail_next_;
  inflight_.start(head, token, 1);
  return true;
}

bool SplitRing::publish() noexcept {
  if (avail_next_ == avail_published_ || broken()) return false;
  const std::uint16_t old = avail_published_;
  write_shared_release(avail_idx_, avail_next_);  // §2.7.13.3: descriptors before idx
  avail_published_ = avail_next_;
  full_fence();                                   // §2.7.13.4: idx before reading suppression
  if (event_idx_) return vring_need_event(read_shared(avail_event_), avail_next_, old);
  return !(read_shared(used_flags_) & VIRTQ_USED_F_NO_NOTIFY);
}

// The next used entry, read once and checked; take_used() has served any batch before.
bool SplitRing::take_next_used(UsedChain& out) noexcept {
  if (broken()) return false;
  if (last_used_ == used_seen_) {
    used_seen_ = read_shared_acquire(used_idx_);
    // B3: the device may complete at most what is in flight; a backwards move wraps to a
    // huge count and fails the same test.
    const auto ready = static_cast<std::uint16_t>(used_seen_ - last_used_);
    if (ready > inflight_.count()) {
      mark_broken(RingError::UsedIndexJump);
      return false;
    }
    if (ready == 0) return false;
  }
  const virtq_used_elem& e = used_ring_[last_used_ & mask_];
  const std::uint32_t id = read_shared(&e.id);  // B7: each field read once, then only locals
  const std::uint32_t len = read_shared(&e.len);
  if (!used_id_valid(id)) return false;  // B1, B2
  if (in_order_) {
    // §2.7.9: one entry may stand for a batch ending at `id`, and the used index moved by the
    // batch size, so the batch can be no longer than what the index says is ready (B6).
    if (!start_batch(static_cast<std::uint16_t>(id), len, static_cast<std::uint16_t>(used_seen_ - last_used_)))
      return false;
    last_used_ = static_cast<std::uint16_t>(last_used_ + batch_left_);
    return take_from_batch(out);
  }
  const CompletedChain c = inflight_.finish(static_cast<std::uint16_t>(id));
  free_chain(static_cast<std::uint16_t>(id), c.descriptors);
  ++last_used_;
  out = {c.token, len, true};
  return true;
}

bool SplitRing::has_used() const noexcept {
  return batch_left_ > 0 || read_shared_acquire(used_idx_) != last_used_;
}

void SplitRing::disable_notifications() noexcept {
  if (event_idx_) {
    // §2.7.7: with event indices the flags must stay 0; an event index just behind us will
    // not be crossed again for 2^16 entries.
    write_shared(used_event_, static_cast<std::uint16_t>(last_used_ - 1));
  } else {
    write_shared(avail_flags_, VIRTQ_AVAIL_F_NO_INTERRUPT);
  }
}

bool SplitRing::enable_notifications() noexcept {
  if (event_idx_)
    write_shared(used_event_, last_used_);
  else
    write_shared(avail_flags_, std::uint16_t{0});
  full_fence();
  return has_used();
}

static_assert(Virtqueue<SplitRing>);

}  // namespace netfront::virtio::ring
