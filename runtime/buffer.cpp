#include <rte_errno.h>

#include <string>

#include "netfront/buffer.hpp"
#include "runtime/mbuf_pool.hpp"

namespace netfront {

void Buffer::free_mbuf(rte_mbuf* m) noexcept { runtime::free_segment(m); }

Buffer Buffer::share(rte_mbuf* m) noexcept {
  if (!m) return {};
  rte_mbuf_refcnt_update(m, 1);
  return adopt(m);
}

Result<Buffer> Buffer::create(rte_mempool* pool, std::size_t length) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (!m) return Error::unknown(Error::Cause::NoResources, "packet pool exhausted");
  if (length > rte_pktmbuf_tailroom(m)) {
    const auto room = rte_pktmbuf_tailroom(m);
    rte_pktmbuf_free(m);
    return Error::unknown(Error::Cause::BadArgument, "buffer of " + std::to_string(length) + " bytes does not fit a pool buffer (" +
                          std::to_string(room) + " bytes)");
  }
  m->data_len = static_cast<std::uint16_t>(length);
  m->pkt_len = static_cast<std::uint32_t>(length);
  Buffer b = adopt(m);
  b.fill(std::byte{0});
  return b;
}

Result<Buffer> Buffer::copy_from(rte_mempool* pool, std::span<const std::byte> bytes) {
  auto made = create(pool, bytes.size());
  if (made) std::memcpy(made->data(), bytes.data(), bytes.size());
  return made;
}

Buffer Buffer::sub(std::size_t off, std::size_t len) const {
  check(off, len);
  retain();
  return Buffer(m_, off_ + off, len);
}

Buffer Buffer::prepend(std::size_t n) const {
  if (n > off_)
    throw std::out_of_range("netfront::Buffer::prepend: " + std::to_string(n) + " bytes wanted, " +
                            std::to_string(off_) + " bytes of headroom");
  retain();
  return Buffer(m_, off_ - n, len_ + n);
}

void Buffer::copy_in(std::size_t off, std::span<const std::byte> src) {
  check(off, src.size());
  if (!src.empty()) std::memcpy(data() + off, src.data(), src.size());
}

void Buffer::copy_out(std::size_t off, std::span<std::byte> dst) const {
  check(off, dst.size());
  if (!dst.empty()) std::memcpy(dst.data(), data() + off, dst.size());
}

void Buffer::fill(std::byte value) noexcept {
  if (len_) std::memset(data(), static_cast<int>(value), len_);
}

void Buffer::out_of_range(std::size_t off, std::size_t n) const {
  throw std::out_of_range("netfront::Buffer: " + std::to_string(n) + " bytes at offset " + std::to_string(off) +
                          " are outside a buffer of " + std::to_string(len_) + " bytes");
}

}  // namespace netfront
