// Fuzz target: a queue pair's receive path (virtio 1.2 §5.1.6.3-4: the virtio-net header,
// num_buffers and mergeable-buffer assembly, with the used-ring checks beneath) against a
// device that completes the receive buffers the driver posted in any order, with any used id,
// any length and any header bytes. The promises checked, whatever the device writes: every
// frame handed to the application lies inside its mbuf and is 1 to MTU + 14 bytes long,
// nothing is read or written outside driver memory (the sanitizers), and once the queue is
// released every receive buffer is back in its pool.
//
// Input: byte 0 picks the ring layout and features; then 8-byte records, one used entry each:
//   u8 chain (which posted buffer; 0xff: a raw id from the next byte), u8 raw id,
//   u16 used len, u16 num_buffers written into the buffer's header, u8 header flags,
//   u8 gso_type.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/device_side/device_ring.hpp"
#include "drivers/virtio/net/queue_pair.hpp"
#include "drivers/virtio/transport/transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/frame_limits.hpp"
#include "ring_fuzz_support.hpp"
#include "runtime/event_loop.hpp"
#include "runtime/packet_pool.hpp"

using namespace netfront;
using namespace netfront::virtio;

namespace {

constexpr std::uint16_t kMtu = 1500;

// Just enough of a transport for a queue pair: it remembers where the rings are.
class RecordingTransport final : public transport::Transport {
 public:
  std::string describe() const override { return "fuzz"; }
  AddressMode address_mode() const noexcept override { return AddressMode::VirtualAddress; }
  Result<> reset() override { return Ok{}; }
  bool revoke_dma() noexcept override { return true; }
  std::uint8_t status() override { return 0; }
  void set_status(std::uint8_t) override {}
  std::uint64_t device_features() override { return 0; }
  void set_driver_features(std::uint64_t) override {}
  std::uint32_t config_generation() override { return 0; }
  std::size_t config_size() const override { return 0; }
  void read_config(std::size_t, std::span<std::byte>) override {}
  std::uint16_t queue_count() override { return 2; }
  std::uint16_t queue_max_size(std::uint16_t) override { return 64; }
  Result<> enable_queue(const transport::QueueSetup& s) override {
    if (s.index == 0) rx = s;
    return Ok{};
  }
  bool notify(std::uint16_t) noexcept override { return true; }
  transport::QueueSetup rx{};
};

class CheckingSink final : public drivers::FrameSink {
 public:
  bool on_frame(unsigned, Buffer frame) override {
    const rte_mbuf* m = frame.mbuf();
    const auto* start = static_cast<const std::byte*>(m->buf_addr);
    if (frame.length() < 1 || frame.length() > std::size_t{kMtu} + kEthernetHeaderLength) std::abort();
    if (frame.data() < start || frame.data() + frame.length() > start + m->buf_len) std::abort();
    volatile std::uint8_t sum = 0;
    for (std::byte b : frame.bytes()) sum = static_cast<std::uint8_t>(sum + static_cast<std::uint8_t>(b));
    return true;  // the frame is freed here
  }
};

runtime::PacketPool& pool() {
  static runtime::PacketPool p = [] {
    auto made = runtime::PacketPool::create({.size = 1023, .cache = 0, .data_room = static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + 2048)});
    if (!made) std::abort();
    return std::move(*made);
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::start_dpdk();
  runtime::logger("net").set_level(spdlog::level::off);
  (void)pool();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static runtime::EventLoop loop;  // waiting writers would need one; none wait here
  RecordingTransport t;
  net::QueuePairConfig c;
  c.rx_size = c.tx_size = 16;
  c.packed = data[0] & 1;
  c.mrg_rxbuf = data[0] & 2;
  c.event_idx = data[0] & 4;
  c.in_order = data[0] & 8;
  c.mtu = kMtu;
  c.rx_pool = pool().get();
  CheckingSink sink;
  {
    auto qp = net::QueuePair::create(c, t);
    if (!qp) std::abort();
    (*qp)->set_sink(&sink);
    if (!(*qp)->start()) std::abort();

    // The device's side: every buffer the driver posted, then used entries as the input says.
    const std::uint64_t features = (c.packed ? feature_bit(VIRTIO_F_RING_PACKED) : 0) |
                                   (c.event_idx ? feature_bit(VIRTIO_F_EVENT_IDX) : 0);
    auto device = device_side::make_device_ring(features, t.rx.size, t.rx.addresses);
    std::vector<device_side::DeviceChain> posted;
    for (device_side::DeviceChain chain; device->pop(chain);) posted.push_back(chain);
    if (posted.empty()) std::abort();
    for (std::size_t at = 1; at + 8 <= size; at += 8) {
      const std::uint8_t* r = data + at;
      std::uint16_t len, num_buffers;
      std::memcpy(&len, r + 2, 2);
      std::memcpy(&num_buffers, r + 4, 2);
      const device_side::DeviceChain& chain = posted[r[0] % posted.size()];
      const std::uint32_t id = r[0] == 0xff ? r[1] : chain.id;
      if (!chain.segments.empty() && chain.segments[0].writable && chain.segments[0].len >= 12) {
        std::byte* h = chain.segments[0].data;
        h[0] = std::byte{r[6]};
        h[1] = std::byte{r[7]};
        std::memcpy(h + 10, &num_buffers, 2);
        for (std::uint32_t i = 12; i < chain.segments[0].len && i < 12 + 64; ++i) h[i] = std::byte{r[1]};
      }
      device->push_used({id, len}, chain.descriptors);
    }
    device->publish_used();
    for (int i = 0; i < 4; ++i) (*qp)->poll();
    // A reset device gives everything back; then no receive buffer may be missing.
    (*qp)->release_all(nullptr);
  }
  if (rte_mempool_in_use_count(pool().get()) != 0) std::abort();
  return 0;
}
