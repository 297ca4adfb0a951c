// Fuzz target: a queue pair's receive path (virtio 1.2 §5.1.6.3-4: the virtio-net header,
// num_buffers and mergeable-buffer assembly) against a device that sends frames of any
// length, spreads them over as many receive buffers as it likes, and lies as the input says:
// lengths beyond what was posted, a first buffer shorter than the header, num_buffers of 0 or
// beyond the ring, header bytes of garbage.
//
// Oracle: the used buffers the device wrote (each one's length and bytes) go through a
// reference reassembler written from the spec alone, over plain byte vectors: without
// MRG_RXBUF each buffer is a frame; with it, a first buffer's num_buffers says how many
// buffers the frame takes, whatever becomes of it (a dropped frame takes its followers with
// it); a first buffer that cannot say where its frame ends stops everything after it; frames
// outside 14..MTU + 14 bytes and buffers claiming more than was posted are dropped. The
// application must get exactly the reference's frames, byte for byte, in order, and nothing
// else; when the device lied nowhere, those are exactly the frames it meant to send. Once
// released, every receive buffer is back in its pool.
//
// With GUEST_CSUM on (byte 0's 32) every header's offload fields are checked too (§5.1.6.4,
// checklist C6-C8): the reference drops a frame whose gso_type is not NONE or whose
// NEEDS_CSUM place is not inside the whole (merged) frame, ignores hdr_len, gso_size and
// unknown flags, and says what rx_offload() must give each frame delivered (Partial with its
// place, Valid for DATA_VALID, Unknown otherwise); the application must see exactly that.
//
// With HASH_REPORT on (byte 0's 64) the header is 20 bytes (checklist C9): every length check
// moves with it, and each frame's hash_report (from its seed: NONE, each of the nine types, or
// beyond them) and hash_value are checked too. The device supports six types (IPv4, TCPv4,
// UDPv4, IPv6, TCPv6, UDPv6): the reference drops a frame reported as another type or none
// known, and says what rx_hash() must give each frame delivered (nothing for NONE).
//
// Input: byte 0 picks the ring layout and features (1 packed, 2 mergeable, 4 event index,
// 8 in order; 16: in order, each frame's buffers completed as one batch, whose entry gives
// only the last buffer's length); then 6-byte records, one frame each: u16 frame length (mod 9200), u8 bytes
// per buffer (0: whole buffers; else 16 * n), u8 lie (mod 8: 0 none, 1 first length beyond
// posted, 2 a follower's length beyond posted, 3 first buffer shorter than the header,
// 4 num_buffers 0, 5 num_buffers beyond the ring, 6 num_buffers one too many or too few,
// 7 garbage header bytes; with GUEST_CSUM its upper five bits pick the offload fields: 1
// NEEDS_CSUM, 2 DATA_VALID, 4 an unknown flag, 8 a gso_type from the seed, 16 the checksum's
// place from the seed rather than inside the frame), u16 seed of the frame's bytes.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/device_side/device_ring.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/frame_limits.hpp"
#include "netfront/offload.hpp"
#include "netfront/packet_pool.hpp"
#include "netfront/rss.hpp"
#include "ring_fuzz_support.hpp"
#include "runtime/rx_offload_field.hpp"

using namespace netfront;
using namespace netfront::virtio;

namespace {

constexpr std::uint16_t kMtu = 1500;
constexpr std::size_t kMaxFrame = kMtu + 14;
constexpr HashTypes kSupportedHashes{0x3f};
constexpr std::uint16_t kRing = 64;

using Bytes = std::vector<std::byte>;

// Just enough of a transport for a queue pair: it remembers where the rings are.
class RecordingTransport final : public transport::Transport {
 public:
  std::string describe() const override { return "fuzz"; }
  ring::AddressMode address_mode() const noexcept override { return ring::AddressMode::VirtualAddress; }
  virtio::Result<> reset() override { return Ok{}; }
  bool revoke_dma() noexcept override { return true; }
  std::uint8_t status() override { return 0; }
  void set_status(std::uint8_t) override {}
  std::uint64_t device_features() override { return 0; }
  void set_driver_features(std::uint64_t) override {}
  std::uint32_t config_generation() override { return 0; }
  std::size_t config_size() const override { return 0; }
  void read_config(std::size_t, std::span<std::byte>) override {}
  std::uint16_t queue_count() override { return 2; }
  std::uint16_t queue_max_size(std::uint16_t) override { return kRing; }
  virtio::Result<> enable_queue(const transport::QueueSetup& s) override {
    if (s.index == 0) rx = s;
    return Ok{};
  }
  bool notify(std::uint16_t) noexcept override { return true; }
  transport::QueueSetup rx{};
};

class RecordingSink final : public drivers::FrameSink {
 public:
  bool on_frame(unsigned, Buffer frame) override {
    const rte_mbuf* m = frame.mbuf();
    const auto* start = static_cast<const std::byte*>(m->buf_addr);
    if (frame.data() < start || frame.data() + frame.length() > start + m->buf_len) std::abort();
    frames.emplace_back(frame.bytes().begin(), frame.bytes().end());
    offloads.push_back(rx_offload(frame));
    hashes.push_back(rx_hash(frame));
    return true;  // the frame is freed here
  }
  std::vector<Bytes> frames;
  std::vector<RxOffload> offloads;
  std::vector<std::optional<RxHash>> hashes;
};

PacketPool& pool() {
  static PacketPool p = [] {
    auto made = PacketPool::create({.size = 1023, .cache = 0, .data_room = static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + 2048)});
    if (!made) std::abort();
    return std::move(*made);
  }();
  return p;
}

// One used buffer as the driver is shown it.
struct Used {
  std::uint32_t len;
  bool len_known;  // false for a buffer an in-order batch completed without an entry of its own
  Bytes bytes;     // what the device wrote there (at most what was posted)
};

// The reference reassembler (see the file comment), over the buffers in the order they were used.
// What a header's offload fields (flags, gso_type, csum_start, csum_offset: bytes 0, 1, 6-9)
// make of a frame of `length` bytes with GUEST_CSUM: nullopt when the frame must be dropped.
std::optional<RxOffload> offload_of(const Bytes& header, std::size_t length) {
  const auto u8 = [&](std::size_t i) { return std::to_integer<unsigned>(header[i]); };
  const unsigned flags = u8(0), gso = u8(1), start = u8(6) | u8(7) << 8, offset = u8(8) | u8(9) << 8;
  if (gso != 0) return std::nullopt;  // C7
  if (flags & 1) {
    if (std::size_t{start} + offset + 2 > length) return std::nullopt;  // C6
    return RxOffload{.checksum = RxChecksum::Partial, .csum_start = static_cast<std::uint16_t>(start),
                     .csum_offset = static_cast<std::uint16_t>(offset)};
  }
  if (flags & 2) return RxOffload{.checksum = RxChecksum::Valid};
  return RxOffload{};  // C8: other flags, hdr_len and gso_size are not looked at
}

// What a header's hash fields (hash_value, hash_report: bytes 12-15, 16-17) say with
// HASH_REPORT: false for a lie that drops the frame; else `out` is the hash, or none.
bool hash_of(const Bytes& header, std::optional<RxHash>& out) {
  const auto u8 = [&](std::size_t i) { return std::to_integer<std::uint32_t>(header[i]); };
  const std::uint32_t value = u8(12) | u8(13) << 8 | u8(14) << 16 | u8(15) << 24;
  const std::uint32_t report = u8(16) | u8(17) << 8;
  out.reset();
  if (report == 0) return true;
  if (report > kHashTypes || !kSupportedHashes.has(static_cast<HashType>(report - 1))) return false;
  out = RxHash{.value = value, .type = static_cast<HashType>(report - 1)};
  return true;
}

struct Reference {
  Reference(bool m, std::size_t p, bool c, bool h) : mergeable(m), posted(p), checksums(c), hashes(h), header_len(h ? 20 : 12) {}
  bool mergeable;
  std::size_t posted;
  bool checksums;
  bool hashes;
  std::size_t header_len;  // 12 bytes, 20 with HASH_REPORT
  std::vector<Bytes> frames;
  std::vector<RxOffload> offloads;
  std::vector<std::optional<RxHash>> reported;
  bool stopped = false;
  unsigned left = 0;      // buffers of the current merged frame still to come
  bool dropping = false;  // ... and they are thrown away
  Bytes current;
  Bytes header;  // the current frame's, as its first buffer held it

  // A buffer whose length the device did not give is not believed: its frame is dropped (the
  // header of a first one still says how many buffers the frame takes).
  void take(const Used& u) {
    if (stopped) return;
    if (left > 0) {
      --left;
      if (dropping) return;
      if (!u.len_known || u.len > posted || current.size() + u.len > kMaxFrame) {
        dropping = true;
        return;
      }
      current.insert(current.end(), u.bytes.begin(), u.bytes.begin() + u.len);
      if (left == 0) finish();
      return;
    }
    if (!mergeable) {
      if (u.len_known && u.len <= posted && u.len >= header_len + 14 && u.len <= header_len + kMaxFrame) {
        header.assign(u.bytes.begin(), u.bytes.begin() + header_len);
        current.assign(u.bytes.begin() + header_len, u.bytes.begin() + u.len);
        finish();
      }
      return;
    }
    if (u.len_known && u.len < header_len) {
      stopped = true;
      return;
    }
    const unsigned n = std::to_integer<unsigned>(u.bytes[10]) | std::to_integer<unsigned>(u.bytes[11]) << 8;
    if (n == 0 || n > kRing) {
      stopped = true;
      return;
    }
    left = n - 1;
    dropping = !u.len_known || u.len > posted || u.len - header_len > kMaxFrame;
    if (dropping) return;
    header.assign(u.bytes.begin(), u.bytes.begin() + header_len);
    current.assign(u.bytes.begin() + header_len, u.bytes.begin() + u.len);
    if (left == 0) finish();
  }
  void finish() {
    if (current.size() < 14) return;
    const auto o = checksums ? offload_of(header, current.size()) : std::optional<RxOffload>(RxOffload{});
    if (!o) return;
    std::optional<RxHash> h;
    if (hashes && !hash_of(header, h)) return;
    frames.push_back(current);
    offloads.push_back(*o);
    reported.push_back(h);
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::start_dpdk();
  runtime::logger("net").set_level(spdlog::level::off);
  if (!runtime::register_rx_offload_field()) std::abort();
  (void)pool();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static EventLoop loop;  // waiting writers would need one; none wait here
  RecordingTransport t;
  net::QueuePairConfig c;
  c.rx_size = c.tx_size = kRing;
  c.packed = data[0] & 1;
  c.mrg_rxbuf = data[0] & 2;
  c.event_idx = data[0] & 4;
  c.in_order = data[0] & 8;
  const bool batched = c.in_order && (data[0] & 16);
  c.rx_checksum = data[0] & 32;
  c.hash_report = data[0] & 64;
  c.hash_types = kSupportedHashes;
  const std::size_t header_len = c.hash_report ? 20 : 12;
  c.header_len = static_cast<std::uint16_t>(header_len);
  c.mtu = kMtu;
  c.rx_pool = pool().get();
  RecordingSink sink;
  std::size_t posted = 0;  // what each receive buffer's descriptor gives, the same for all
  std::optional<Reference> reference;
  std::vector<Bytes> meant;  // the frames the device meant to deliver
  bool lied = false;
  {
    auto qp = net::QueuePair::create(c, t);
    if (!qp) std::abort();
    (*qp)->set_sink(&sink);
    if (!(*qp)->start()) std::abort();

    // The device's side: the buffers the driver posts, used in order, one used entry each.
    const std::uint64_t features = (c.packed ? feature_bit(VIRTIO_F_RING_PACKED) : 0) |
                                   (c.event_idx ? feature_bit(VIRTIO_F_EVENT_IDX) : 0) |
                                   (c.in_order ? feature_bit(VIRTIO_F_IN_ORDER) : 0);
    auto device = device_side::make_device_ring(features, t.rx.size, t.rx.addresses);
    std::deque<device_side::DeviceChain> ready;
    auto take_posted = [&] {
      for (device_side::DeviceChain chain; device->pop(chain);) ready.push_back(chain);
    };
    take_posted();
    if (ready.empty()) std::abort();
    posted = ready.front().segments.at(0).len;
    reference.emplace(c.mrg_rxbuf, posted, c.rx_checksum, c.hash_report);
    for (std::size_t at = 1; at + 6 <= size && !reference->stopped; at += 6) {
      const std::uint8_t* r = data + at;
      std::uint16_t len, seed;
      std::memcpy(&len, r, 2);
      std::memcpy(&seed, r + 4, 2);
      len %= 9200;
      const std::size_t per_buffer = r[2] == 0 ? posted : std::min<std::size_t>(posted, 16u * r[2]);
      const unsigned lie = r[3] % 8;
      Bytes frame(len);
      for (std::size_t i = 0; i < len; ++i) frame[i] = static_cast<std::byte>(seed * 131 + i * 7 + (i >> 8));
      // The stream the device writes: a header (gso none, num_buffers below), then the frame.
      Bytes stream(header_len + len);
      if (len > 0) std::memcpy(stream.data() + header_len, frame.data(), len);
      const std::size_t buffers = c.mrg_rxbuf ? (stream.size() + per_buffer - 1) / per_buffer : 1;
      if (!c.mrg_rxbuf && stream.size() > per_buffer) continue;  // it does not fit a buffer: not sent
      if (buffers > ready.size()) break;                          // the device has no more buffers to use
      std::uint16_t num_buffers = static_cast<std::uint16_t>(buffers);
      if (lie == 4) num_buffers = 0;
      if (lie == 5) num_buffers = static_cast<std::uint16_t>(kRing + 1 + seed % 100);
      if (lie == 6) num_buffers = static_cast<std::uint16_t>(buffers + (seed & 1 ? 1 : -1));
      std::memcpy(stream.data() + 10, &num_buffers, 2);
      if (c.rx_checksum) {
        // The offload fields of the header (§5.1.6.4): flags, gso_type, hdr_len, gso_size,
        // csum_start, csum_offset.
        const unsigned pick = r[3] >> 3;
        net::virtio_net_hdr h{};
        h.flags = static_cast<std::uint8_t>((pick & 1 ? 1 : 0) | (pick & 2 ? 2 : 0) | (pick & 4 ? 4 << (seed % 5) : 0));
        h.gso_type = pick & 8 ? static_cast<std::uint8_t>(seed % 7 | (seed & 0x80)) : 0;
        h.hdr_len = static_cast<std::uint16_t>(seed * 3);
        h.gso_size = static_cast<std::uint16_t>(seed * 5);
        const std::size_t room = len > 2 ? len - 2 : 0;
        h.csum_start = pick & 16 ? seed : static_cast<std::uint16_t>(room ? seed % (room + 1) : 0);
        h.csum_offset = static_cast<std::uint16_t>(pick & 16 ? seed >> 4 : room > h.csum_start ? (seed >> 3) % (room - h.csum_start + 1) : 0);
        std::memcpy(stream.data(), &h, 10);
      }
      if (c.hash_report) {
        // The hash fields: NONE, each of the nine types, or beyond them; any value.
        const net::virtio_net_hash h{.hash_value = seed * 2654435761u, .hash_report = static_cast<std::uint16_t>(seed % 12)};
        std::memcpy(stream.data() + 12, &h, sizeof h);
      }
      if (lie == 7) std::memcpy(stream.data(), r, std::min<std::size_t>(header_len, 6));
      // Without MRG_RXBUF the header's num_buffers and flags are not looked at: only lengths lie.
      // A batched frame of several buffers gives no length for all but its last: dropped.
      const Bytes head(stream.begin(), stream.begin() + header_len);
      std::optional<RxHash> unused;
      const bool bad_offload = (c.rx_checksum && !offload_of(head, len)) || (c.hash_report && !hash_of(head, unused));
      // A first buffer filled with less than the header (16 bytes of a 20-byte one) is a lie too.
      const bool lies = (c.mrg_rxbuf ? lie != 0 || per_buffer < header_len : lie >= 1 && lie <= 3) ||
                        (batched && buffers > 1) || bad_offload;
      lied = lied || lies;
      if (!lies && len >= 14 && len <= kMaxFrame) meant.push_back(frame);
      std::uint16_t descriptors = 0;
      for (std::size_t b = 0, written = 0; b < buffers; ++b) {
        const device_side::DeviceChain chain = ready.front();
        ready.pop_front();
        const device_side::DeviceSegment& s = chain.segments.at(0);
        if (s.len != posted || !s.writable) std::abort();  // every receive buffer alike
        const std::size_t n = std::min(per_buffer, stream.size() - written);
        std::memcpy(s.data, stream.data() + written, n);
        written += n;
        Used u{static_cast<std::uint32_t>(n), true, Bytes(s.data, s.data + s.len)};
        if (b == 0 && lie == 1) u.len = static_cast<std::uint32_t>(posted + 1 + seed % 1000);
        if (b == 1 && lie == 2) u.len = static_cast<std::uint32_t>(posted + 1 + seed % 1000);
        if (b == 0 && lie == 3) u.len = seed % header_len;
        descriptors = static_cast<std::uint16_t>(descriptors + chain.descriptors);
        if (!batched) {
          device->push_used({chain.id, u.len}, chain.descriptors);
        } else if (b + 1 == buffers) {
          device->push_used_batch({chain.id, u.len}, static_cast<std::uint16_t>(buffers), descriptors);
        } else {
          u.len_known = false;
        }
        reference->take(u);
      }
      device->publish_used();
      // The driver takes them, delivers, and posts buffers again.
      for (int i = 0; i < 2; ++i) (*qp)->poll();
      take_posted();
    }
    for (int i = 0; i < 4; ++i) (*qp)->poll();
    if (sink.frames != reference->frames) std::abort();
    if (sink.offloads != reference->offloads) std::abort();  // what the application is told of each
    if (c.hash_report ? sink.hashes != reference->reported
                      : std::any_of(sink.hashes.begin(), sink.hashes.end(), [](const auto& h) { return h.has_value(); }))
      std::abort();
    if (!lied && reference->frames != meant) std::abort();  // the reference itself, held to the device's intent
    // A reset device gives everything back; then no receive buffer may be missing.
    (*qp)->reset(nullptr);
  }
  if (rte_mempool_in_use_count(pool().get()) != 0) std::abort();
  return 0;
}
