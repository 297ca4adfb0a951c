#include <lwip/etharp.h>
#include <lwip/ethip6.h>
#include <lwip/netif.h>
#include <netif/ethernet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "netfront/offload.hpp"
#include "runtime/log.hpp"
#include "runtime/lwip/buffer_pbuf.hpp"
#include "runtime/lwip/netif_glue.hpp"

namespace netfront::lwip {
namespace {

constexpr std::size_t kEthernetHeader = 14;

// Whether `frame` is an IPv4 fragment, or an IPv6 packet with a Fragment header after the
// extension headers lwIP reads before it (hop-by-hop options, routing, destination options).
bool is_fragment(const Buffer& frame) noexcept {
  const std::span<const std::byte> b = frame.bytes();
  const auto u8 = [&](std::size_t at) { return at < b.size() ? std::to_integer<unsigned>(b[at]) : 0u; };
  const unsigned type = u8(12) << 8 | u8(13);
  if (type == 0x0800) return ((u8(kEthernetHeader + 6) << 8 | u8(kEthernetHeader + 7)) & 0x3FFF) != 0;  // MF, or an offset
  if (type != 0x86DD) return false;
  unsigned next = u8(kEthernetHeader + 6);
  for (std::size_t at = kEthernetHeader + 40; (next == 0 || next == 43 || next == 60) && at + 2 <= b.size();
       at += (std::size_t{u8(at + 1)} + 1) * 8)
    next = u8(at);
  return next == 44;
}

// `frame` in lwIP's own memory, its device buffer free to go back at once.
pbuf* copy_of(const Buffer& frame) noexcept {
  if (frame.empty() || frame.length() > 0xFFFF) return nullptr;
  pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(frame.length()), PBUF_RAM);
  if (p) std::memcpy(p->payload, frame.data(), frame.length());
  return p;
}

// Finishes a write that had to wait for ring space, counting its outcome. Holds the state so
// that it outlives the LwipNetif if need be.
io<void> finish_write(std::shared_ptr<NetifGlue> state, io<Result<>> written) {
  if (Result<> r = co_await std::move(written); !r) {
    ++state->counters.tx_errors;
    state->log_error(r.error());
  }
}

}  // namespace

err_t NetifGlue::init(::netif* nif) {
  auto* s = static_cast<NetifGlue*>(nif->state);
  nif->name[0] = 'n';
  nif->name[1] = 'f';
  nif->output = etharp_output;
  nif->output_ip6 = ethip6_output;
  nif->linkoutput = linkoutput;
  nif->mtu = s->device->mtu();
  const MacAddress mac = s->device->mac();
  static_assert(sizeof mac.bytes == ETH_HWADDR_LEN);
  std::memcpy(nif->hwaddr, mac.bytes.data(), ETH_HWADDR_LEN);
  nif->hwaddr_len = ETH_HWADDR_LEN;
  nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
  return ERR_OK;
}

err_t NetifGlue::linkoutput(::netif* nif, pbuf* p) { return static_cast<NetifGlue*>(nif->state)->transmit(p); }

void NetifGlue::receive(Buffer&& frame) {
  // lwIP checks every checksum itself: one a local sender left partial (GUEST_CSUM) is
  // finished first, or lwIP would drop the frame as corrupt.
  complete_rx_checksum(frame);
  // What lwIP holds it may hold for long, and a peer decides how much: TCP keeps unread and
  // out-of-order segments (65535 of them in a window, at a byte each), reassembly keeps
  // fragments past the netif's removal. Device buffers given to lwIP must leave the device
  // enough to receive (and the fill-style writes, which share the pool, enough to send).
  const rte_mempool* pool = frame.mbuf() ? frame.mbuf()->pool : nullptr;
  const bool copy = (pool && held() >= pool->size / 2) || is_fragment(frame);
  pbuf* p = copy ? copy_of(frame) : wrap(std::move(frame));
  if (!p) {
    ++counters.rx_dropped;
    return;
  }
  ++counters.rx_frames;
  if (copy) ++counters.rx_copied;
  // netif.h: the input function frees the pbuf unless it returns an error.
  if (nif.input(p, &nif) != ERR_OK) {
    pbuf_free(p);
    ++counters.rx_dropped;
  }
}

err_t NetifGlue::transmit(pbuf* p) {
  const std::size_t length = p->tot_len;
  if (length < kEthernetHeader || length > std::size_t{device->mtu()} + kEthernetHeader) {
    ++counters.tx_errors;
    return ERR_IF;
  }
  bool device_memory = false;
  for (const pbuf* q = p; q; q = q->next) device_memory = device_memory || buffer_of(q);
  if (device_memory && transmit_in_pieces(p)) return ERR_OK;
  // The fill runs before write returns, so the copy is made whether or not the ring has room.
  count_write(device->write(length, [p, length](Buffer& frame) {
    return std::size_t{pbuf_copy_partial(p, frame.data(), static_cast<u16_t>(length), 0)};
  }));
  counters.tx_copied_bytes += length;
  return ERR_OK;
}

bool NetifGlue::transmit_in_pieces(pbuf* p) {
  PacketPool* pool = header_pool();
  if (!pool) return false;
  std::array<Buffer, kMaxWritevPieces> pieces;
  std::size_t n = 0, copied = 0, referenced = 0;
  for (const pbuf* q = p; q;) {
    if (n == pieces.size()) return false;
    if (const Buffer* b = buffer_of(q)) {
      const auto at = static_cast<std::size_t>(static_cast<const std::byte*>(q->payload) - b->data());
      pieces[n++] = b->sub(at, q->len);
      referenced += q->len;
      q = q->next;
      continue;
    }
    // A run of lwIP's own pbufs becomes one piece.
    std::size_t run = 0;
    const pbuf* end = q;
    for (; end && !buffer_of(end); end = end->next) run += end->len;
    auto piece = Buffer::create(pool->get(), run);
    if (!piece) return false;
    for (std::size_t at = 0; q != end; q = q->next) {
      std::memcpy(piece->data() + at, q->payload, q->len);
      at += q->len;
    }
    copied += run;
    pieces[n++] = std::move(*piece);
  }
  count_write(device->writev(std::span<const Buffer>(pieces.data(), n)));
  counters.tx_copied_bytes += copied;
  counters.tx_zero_copy_bytes += referenced;
  return true;
}

void NetifGlue::count_write(io<Result<>>&& written) {
  ++counters.tx_frames;
  if (written.pending()) {
    ++counters.tx_waited;
    // lwIP has let go of the frame: the write goes on and its outcome is counted later.
    (void)finish_write(self.lock(), std::move(written));
    return;
  }
  if (Result<> r = written.get(); !r) {
    ++counters.tx_errors;
    log_error(r.error());
  }
}

void NetifGlue::log_error(const Error& e) {
  const auto now = Clock::now();
  if (now - last_error_log < std::chrono::seconds(1)) return;
  last_error_log = now;
  runtime::logger("lwip").warn("a frame lwIP sent was refused: {} ({} refused so far)", e.to_string(), counters.tx_errors);
}

}  // namespace netfront::lwip
