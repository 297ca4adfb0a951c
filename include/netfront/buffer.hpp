// Buffer: the `buffer` (Cstruct.t) of the NETWORK signature. A view (offset, length) on the
// data room of one rte_mbuf. Copying a Buffer shares the mbuf (its reference count goes up);
// slicing, shifting and splitting make new views on the same bytes without copying; the mbuf
// goes back to its pool when the last view is gone. A Buffer handed to Netif::write goes to the
// device ring as it is: the device reads these very bytes.
//
// Accessors are bounds-checked like Cstruct's and throw std::out_of_range (Cstruct raises
// Invalid_argument): an out-of-range access is a bug in the caller, not a runtime condition.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>

#include "netfront/detail/dpdk.hpp"
#include "netfront/result.hpp"

namespace netfront {

class Buffer {
 public:
  Buffer() noexcept = default;

  // Takes over the caller's reference to a single-segment mbuf; the view is its data
  // (data_off, data_len). Returns an empty Buffer for nullptr. Inline: once per frame, both
  // ways (every received frame, and every frame an application builds from a raw mbuf).
  static Buffer adopt(rte_mbuf* m) noexcept {
    if (!m) return {};
    // A view covers one segment: a chained mbuf would lose its tail when the view frees it.
    RTE_ASSERT(m->next == nullptr);
    return Buffer(m, m->data_off, m->data_len);
  }
  // Like adopt() but adds a reference: the caller keeps its own.
  static Buffer share(rte_mbuf* m) noexcept;

  // A fresh zero-filled buffer of `length` bytes from `pool` (Cstruct.create).
  static Result<Buffer> create(rte_mempool* pool, std::size_t length);
  // Plain memory is copied into a pool buffer, once, here and nowhere else (Cstruct.of_string).
  static Result<Buffer> copy_from(rte_mempool* pool, std::span<const std::byte> bytes);

  Buffer(const Buffer& other) noexcept : m_(other.m_), off_(other.off_), len_(other.len_) { retain(); }
  Buffer(Buffer&& other) noexcept
      : m_(std::exchange(other.m_, nullptr)), off_(std::exchange(other.off_, 0)), len_(std::exchange(other.len_, 0)) {}
  Buffer& operator=(const Buffer& other) noexcept {
    Buffer copy(other);
    swap(copy);
    return *this;
  }
  Buffer& operator=(Buffer&& other) noexcept {
    Buffer moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~Buffer() { release(); }
  void swap(Buffer& other) noexcept {
    std::swap(m_, other.m_);
    std::swap(off_, other.off_);
    std::swap(len_, other.len_);
  }

  // --- the view
  std::size_t length() const noexcept { return len_; }
  bool empty() const noexcept { return len_ == 0; }
  // Offset of the view from the start of the mbuf's data room (Cstruct.off).
  std::size_t offset() const noexcept { return off_; }
  std::byte* data() const noexcept { return m_ ? static_cast<std::byte*>(m_->buf_addr) + off_ : nullptr; }
  std::span<std::byte> bytes() const noexcept { return {data(), len_}; }
  // The address a PCI device is given for the first byte (a vhost-user backend is given
  // data() instead).
  rte_iova_t iova() const noexcept { return m_->buf_iova + off_; }
  rte_mbuf* mbuf() const noexcept { return m_; }
  // Gives up this view's reference to the mbuf: the caller now owns it (and frees it with
  // rte_pktmbuf_free_seg). A driver keeps a frame in flight this way.
  rte_mbuf* into_mbuf() && noexcept {
    off_ = len_ = 0;
    return std::exchange(m_, nullptr);
  }
  // Views sharing the mbuf, this one included.
  unsigned refcount() const noexcept { return m_ ? rte_mbuf_refcnt_read(m_) : 0; }
  // Bytes of the data room in front of / behind the view (room for headers, Cstruct-style).
  std::size_t headroom() const noexcept { return off_; }
  std::size_t tailroom() const noexcept { return m_ ? m_->buf_len - off_ - len_ : 0; }

  // --- slicing without copying (Cstruct.sub / shift / split)
  Buffer sub(std::size_t off, std::size_t len) const;
  Buffer shift(std::size_t n) const { return sub(n, checked_rest(n)); }
  std::pair<Buffer, Buffer> split(std::size_t n) const { return {sub(0, n), shift(n)}; }
  // Grows the view into the headroom by `n` bytes (for prepending a header in place).
  Buffer prepend(std::size_t n) const;
  // sub(0, n) of a view let go of: its reference moves to the result instead of a new one
  // being taken (so a frame only this view holds stays held once).
  Buffer first(std::size_t n) && {
    check(0, n);
    Buffer b(std::move(*this));
    b.len_ = n;
    return b;
  }

  // --- byte access, bounds-checked
  std::uint8_t get_u8(std::size_t off) const { return load<std::uint8_t>(off); }
  void set_u8(std::size_t off, std::uint8_t v) { store(off, v); }
  std::uint16_t get_be16(std::size_t off) const { return __builtin_bswap16(load<std::uint16_t>(off)); }
  std::uint32_t get_be32(std::size_t off) const { return __builtin_bswap32(load<std::uint32_t>(off)); }
  std::uint64_t get_be64(std::size_t off) const { return __builtin_bswap64(load<std::uint64_t>(off)); }
  std::uint16_t get_le16(std::size_t off) const { return load<std::uint16_t>(off); }
  std::uint32_t get_le32(std::size_t off) const { return load<std::uint32_t>(off); }
  std::uint64_t get_le64(std::size_t off) const { return load<std::uint64_t>(off); }
  void set_be16(std::size_t off, std::uint16_t v) { store(off, __builtin_bswap16(v)); }
  void set_be32(std::size_t off, std::uint32_t v) { store(off, __builtin_bswap32(v)); }
  void set_be64(std::size_t off, std::uint64_t v) { store(off, __builtin_bswap64(v)); }
  void set_le16(std::size_t off, std::uint16_t v) { store(off, v); }
  void set_le32(std::size_t off, std::uint32_t v) { store(off, v); }
  void set_le64(std::size_t off, std::uint64_t v) { store(off, v); }

  // Cstruct.blit_from_bytes / blit_to_bytes / memset.
  void copy_in(std::size_t off, std::span<const std::byte> src);
  void copy_out(std::size_t off, std::span<std::byte> dst) const;
  void fill(std::byte value) noexcept;

 private:
  static_assert(std::endian::native == std::endian::little, "netfront targets little-endian hosts");

  Buffer(rte_mbuf* m, std::size_t off, std::size_t len) noexcept : m_(m), off_(off), len_(len) {}
  void retain() const noexcept {
    if (m_) rte_mbuf_refcnt_update(m_, 1);
  }
  // The check stays inline (moved-from views are common and free nothing); the free does not.
  void release() noexcept {
    if (m_) free_mbuf(std::exchange(m_, nullptr));
  }
  [[gnu::noinline]] static void free_mbuf(rte_mbuf* m) noexcept;
  void check(std::size_t off, std::size_t n) const {
    if (off > len_ || n > len_ - off) out_of_range(off, n);
  }
  std::size_t checked_rest(std::size_t n) const {
    check(n, 0);
    return len_ - n;
  }
  [[noreturn]] void out_of_range(std::size_t off, std::size_t n) const;

  template <typename T>
  T load(std::size_t off) const {
    check(off, sizeof(T));
    T v;
    std::memcpy(&v, data() + off, sizeof(T));
    return v;
  }
  template <typename T>
  void store(std::size_t off, T v) {
    check(off, sizeof(T));
    std::memcpy(data() + off, &v, sizeof(T));
  }

  rte_mbuf* m_ = nullptr;
  std::size_t off_ = 0;
  std::size_t len_ = 0;
};

}  // namespace netfront
