#include <rte_errno.h>
#include <rte_mbuf_dyn.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>

#include "netfront/rss.hpp"
#include "runtime/internet_checksum.hpp"
#include "runtime/rx_offload_field.hpp"
#include "runtime/runtime_error.hpp"

namespace netfront {
namespace {

struct PartialChecksum {
  std::uint16_t start;
  std::uint16_t offset;
};

// The field's offset in every mbuf; -1 until registered.
std::atomic<int> field_offset{-1};
// The reported hash's type (HashType) lies in a byte field of its own; its value in the mbuf's
// hash.rss, as DPDK's drivers leave it, under RTE_MBUF_F_RX_RSS_HASH.
std::atomic<int> hash_type_offset{-1};
// A flag of netfront's own in ol_flags: the checksum and hash flags were set by netfront's
// driver from a header it checked. Any other driver may set the same checksum flags on its mbufs, but not
// this one, and mbufs lose it when they are allocated again (rte_pktmbuf_reset). 0 until
// registered.
std::atomic<std::uint64_t> checked_flag{0};

}  // namespace

RxOffload rx_offload(const Buffer& frame) noexcept {
  const rte_mbuf* m = frame.mbuf();
  if (!m || !(m->ol_flags & checked_flag.load(std::memory_order_relaxed))) return {};
  switch (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
      return {.checksum = RxChecksum::Valid};
    case RTE_MBUF_F_RX_L4_CKSUM_NONE: {
      const int at = field_offset.load(std::memory_order_relaxed);
      if (at < 0) return {};
      PartialChecksum p;
      std::memcpy(&p, RTE_MBUF_DYNFIELD(m, at, const PartialChecksum*), sizeof p);
      return {.checksum = RxChecksum::Partial, .csum_start = p.start, .csum_offset = p.offset};
    }
    default:
      return {};
  }
}

void complete_rx_checksum(Buffer& frame) noexcept {
  const RxOffload o = rx_offload(frame);
  if (o.checksum != RxChecksum::Partial) return;
  rte_mbuf* m = frame.mbuf();
  // The positions count from the received frame's first byte, and were checked against its
  // length when it was received (C6): the whole frame is the mbuf's data.
  const std::span<std::byte> whole(rte_pktmbuf_mtod(m, std::byte*), m->data_len);
  if (runtime::complete_checksum(whole, o.csum_start, o.csum_offset)) runtime::store_rx_offload(m, {.checksum = RxChecksum::Valid});
}

std::optional<RxHash> rx_hash(const Buffer& frame) noexcept {
  const rte_mbuf* m = frame.mbuf();
  const std::uint64_t checked = checked_flag.load(std::memory_order_relaxed);
  if (!m || !(m->ol_flags & checked) || !(m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)) return std::nullopt;
  const int at = hash_type_offset.load(std::memory_order_relaxed);
  if (at < 0) return std::nullopt;
  return RxHash{.value = m->hash.rss, .type = static_cast<HashType>(*RTE_MBUF_DYNFIELD(m, at, const std::uint8_t*))};
}

namespace runtime {

Result<> register_rx_offload_field() {
  if (field_offset.load() >= 0 && hash_type_offset.load() >= 0 && checked_flag.load() != 0) return Ok{};
  static const rte_mbuf_dynfield kField = {
      .name = "netfront_partial_checksum", .size = sizeof(PartialChecksum), .align = alignof(PartialChecksum), .flags = 0};
  static const rte_mbuf_dynflag kFlag = {.name = "netfront_checked_header", .flags = 0};
  const int at = rte_mbuf_dynfield_register(&kField);
  if (at < 0)
    return Fault(RuntimeError::Exhausted, std::string("cannot register the mbuf field of partial checksums: ") + rte_strerror(rte_errno));
  static const rte_mbuf_dynfield kHashType = {.name = "netfront_hash_type", .size = 1, .align = 1, .flags = 0};
  const int hash_at = rte_mbuf_dynfield_register(&kHashType);
  if (hash_at < 0)
    return Fault(RuntimeError::Exhausted, std::string("cannot register the mbuf field of hash types: ") + rte_strerror(rte_errno));
  const int bit = rte_mbuf_dynflag_register(&kFlag);
  if (bit < 0)
    return Fault(RuntimeError::Exhausted, std::string("cannot register the mbuf flag of checked headers: ") + rte_strerror(rte_errno));
  field_offset.store(at);
  hash_type_offset.store(hash_at);
  checked_flag.store(std::uint64_t{1} << bit);
  return Ok{};
}

void store_rx_offload(rte_mbuf* m, const RxOffload& o) noexcept {
  m->ol_flags &= ~RTE_MBUF_F_RX_L4_CKSUM_MASK;
  m->ol_flags |= checked_flag.load(std::memory_order_relaxed);
  switch (o.checksum) {
    case RxChecksum::Valid:
      m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
      return;
    case RxChecksum::Partial: {
      const PartialChecksum p{o.csum_start, o.csum_offset};
      std::memcpy(RTE_MBUF_DYNFIELD(m, field_offset.load(std::memory_order_relaxed), PartialChecksum*), &p, sizeof p);
      m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
      return;
    }
    case RxChecksum::Unknown:
      return;
  }
}

}  // namespace runtime
}  // namespace netfront

namespace netfront::runtime {

void store_rx_hash(rte_mbuf* m, const RxHash& h) noexcept {
  m->ol_flags |= checked_flag.load(std::memory_order_relaxed) | RTE_MBUF_F_RX_RSS_HASH;
  m->hash.rss = h.value;
  *RTE_MBUF_DYNFIELD(m, hash_type_offset.load(std::memory_order_relaxed), std::uint8_t*) = static_cast<std::uint8_t>(h.type);
}

}  // namespace netfront::runtime
