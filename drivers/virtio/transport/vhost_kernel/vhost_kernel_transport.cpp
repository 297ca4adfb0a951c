#include "drivers/virtio/transport/vhost_kernel/vhost_kernel_transport.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/vhost/guest_memory.hpp"
#include "drivers/virtio/transport/vhost/vring.hpp"
#include "drivers/virtio/transport/vhost_kernel/vhost_ioctl.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::vhost_kernel {
namespace {

using vhost::VringAddress;
using vhost::VringState;

// What of the kernel's offer is passed on to the engine, and back to the kernel: the ring
// features this transport sets up the way vhost-net expects them (split rings only), and
// nothing else. vhost's own bits stay out: VHOST_NET_F_VIRTIO_NET_HDR (bit 27, ANY_LAYOUT's
// number) would have vhost add and strip the header, which the tap carries instead;
// ACCESS_PLATFORM would need the IOTLB messages; a ring is reset by closing the file, not by
// RING_RESET. So does whatever a later kernel adds, until this transport knows it.
constexpr std::uint64_t kFromKernel = feature_bit(VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_F_INDIRECT_DESC) |
                                      feature_bit(VIRTIO_F_EVENT_IDX) | feature_bit(net::VIRTIO_NET_F_MRG_RXBUF);

// The offloads are the tap's, not vhost's: the tap takes partial checksums and TCP segmentation
// in the header of every frame written to it, and leaves them to us where TUNSETOFFLOAD says.
constexpr std::uint64_t kTapOffloads =
    feature_bit(net::VIRTIO_NET_F_CSUM) | feature_bit(net::VIRTIO_NET_F_HOST_TSO4) | feature_bit(net::VIRTIO_NET_F_HOST_TSO6) |
    feature_bit(net::VIRTIO_NET_F_HOST_ECN) | feature_bit(net::VIRTIO_NET_F_GUEST_CSUM) |
    feature_bit(net::VIRTIO_NET_F_GUEST_TSO4) | feature_bit(net::VIRTIO_NET_F_GUEST_TSO6) |
    feature_bit(net::VIRTIO_NET_F_GUEST_ECN);

unsigned tun_offloads(std::uint64_t features) noexcept {
  unsigned f = 0;
  if (has_feature(features, net::VIRTIO_NET_F_GUEST_CSUM)) f |= TUN_F_CSUM;
  if (has_feature(features, net::VIRTIO_NET_F_GUEST_TSO4)) f |= TUN_F_TSO4;
  if (has_feature(features, net::VIRTIO_NET_F_GUEST_TSO6)) f |= TUN_F_TSO6;
  if (has_feature(features, net::VIRTIO_NET_F_GUEST_ECN)) f |= TUN_F_TSO_ECN;
  return f;
}

// §5.1.6.1: num_buffers is there with VERSION_1 or MRG_RXBUF, the length vhost_net_set_features
// takes for sock_hlen too. vhost-net writes it only with MRG_RXBUF (handle_rx); without, the
// tap steps over those two bytes (tun_put_user) and they keep what the buffer held, which the
// engine does not read then (rx_queue.hpp take_whole, C4).
int header_length(std::uint64_t features) noexcept {
  return has_feature(features, VIRTIO_F_VERSION_1) || has_feature(features, net::VIRTIO_NET_F_MRG_RXBUF) ? 12 : 10;
}

Fault system_fault(const std::string& what) { return Fault(TransportError::System, what + ": " + std::strerror(errno)); }

}  // namespace

Result<std::unique_ptr<VhostKernelTransport>> VhostKernelTransport::open(const VhostNetAddress& address, unsigned queue_pairs) {
  // Before the tap, so that a kernel without vhost-net leaves no tap behind.
  if (::access("/dev/vhost-net", R_OK | W_OK) != 0)
    return Fault(TransportError::Unsupported, "no /dev/vhost-net: this kernel has no vhost-net loaded (modprobe vhost_net)");
  auto tap = Tap::open(address.tap_name, queue_pairs);
  if (!tap) return std::move(tap).error();
  std::unique_ptr<VhostKernelTransport> t(new VhostKernelTransport(std::move(*tap)));
  const unsigned rings = 2 * queue_pairs;
  t->kick_fds_.assign(rings, -1);
  t->call_fds_.assign(rings, -1);
  t->ring_started_.assign(rings, false);
  for (unsigned i = 0; i < rings; ++i)
    for (int* fd : {&t->kick_fds_[i], &t->call_fds_[i]}) {
      *fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (*fd < 0) return system_fault("eventfd");
    }
  // Pairs past the first carry nothing until VQ_PAIRS_SET turns them on (§5.1.6.5.5).
  for (unsigned q = 1; q < queue_pairs; ++q)
    if (auto r = t->tap_.attach(q, false); !r) return std::move(r).error();
  if (auto r = t->open_vhost_files(); !r) return std::move(r).error();
  return t;
}

VhostKernelTransport::~VhostKernelTransport() {
  close_vhost_files();
  for (int fd : kick_fds_) ::close(fd);
  for (int fd : call_fds_) ::close(fd);
}

Result<> VhostKernelTransport::open_vhost_files() {
  for (unsigned pair = 0; pair < tap_.queues(); ++pair) {
    const int fd = ::open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      const Fault f = system_fault("open /dev/vhost-net");
      close_vhost_files();  // none half open: memory_sent_ and vhost_fds_ stay in step
      return f;
    }
    // The kernel's worker works in our address space from here on; a file without an owner
    // has no worker and is only closed.
    if (::ioctl(fd, VHOST_SET_OWNER) != 0) {
      const Fault f = system_fault("VHOST_SET_OWNER");
      ::close(fd);
      close_vhost_files();
      return f;
    }
    vhost_fds_.push_back(fd);
    std::uint64_t features = 0;
    if (::ioctl(fd, VHOST_GET_FEATURES, &features) != 0) {
      const Fault f = system_fault("VHOST_GET_FEATURES");
      close_vhost_files();
      return f;
    }
    kernel_features_ = pair == 0 ? features : kernel_features_ & features;
  }
  memory_sent_.assign(vhost_fds_.size(), false);
  return Ok{};
}

// VHOST_RESET_OWNER (vhost_net_reset_owner) stops the file's rings, flushes its worker (and
// waits for zero-copy transmits to complete), then ends the worker and drops our address
// space: nothing of ours is touched after it returns, whoever else holds the file. Closing
// does the same (vhost_net_release), but only on the last reference.
bool VhostKernelTransport::close_vhost_files() noexcept {
  bool stopped = true;
  for (int fd : vhost_fds_) {
    if (::ioctl(fd, VHOST_RESET_OWNER) != 0) {
      runtime::logger("vhost").error("{}: VHOST_RESET_OWNER: {}; the kernel may still use our memory", describe(), std::strerror(errno));
      stopped = false;
    }
    ::close(fd);
  }
  vhost_fds_.clear();
  memory_sent_.clear();
  ring_started_.assign(ring_started_.size(), false);
  if (!stopped) stop_unconfirmed_ = true;
  return stopped;
}

Result<> VhostKernelTransport::reset() {
  close_vhost_files();
  if (stop_unconfirmed_) return Fault(TransportError::NoAnswer, describe() + ": the kernel did not confirm that it stopped its rings");
  control_.reset();
  status_ = 0;
  driver_features_ = 0;
  features_accepted_ = false;
  // Counts left from before would read as notifications of the new rings.
  std::uint64_t drained;
  for (int fd : kick_fds_) (void)!::read(fd, &drained, sizeof drained);
  for (int fd : call_fds_) (void)!::read(fd, &drained, sizeof drained);
  for (unsigned q = 1; q < tap_.queues(); ++q)
    if (auto r = tap_.attach(q, false); !r) return r;
  return open_vhost_files();
}

bool VhostKernelTransport::revoke_dma() noexcept {
  close_vhost_files();
  return !stop_unconfirmed_;
}

void VhostKernelTransport::set_status(std::uint8_t status) {
  // FEATURES_OK only sticks if the kernel took the features (§3.1.1 step 6 re-reads it).
  if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !features_accepted_) status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
  // §3.1.1: the device uses no buffer before DRIVER_OK, and the receive buffers are made
  // available before it: only now does the kernel get the first pair's tap queue.
  const bool driver_ok = (status & VIRTIO_CONFIG_S_DRIVER_OK) && !(status_ & VIRTIO_CONFIG_S_DRIVER_OK);
  status_ = status;
  if (!driver_ok) return;
  for (std::uint16_t ring = 0; ring < 2; ++ring) {
    if (!ring_started_[ring]) continue;
    if (auto r = enable_ring(ring, true); !r) {
      runtime::logger("vhost").error("{}: {}", describe(), r.error().to_string());
      status_ |= VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET;  // the engine starts over
      return;
    }
  }
}

std::uint64_t VhostKernelTransport::device_features() {
  // ANY_LAYOUT is offered all the same: vhost-net takes a frame's header and data in any
  // descriptors (it walks them as one iovec).
  std::uint64_t f = (kernel_features_ & kFromKernel) | kTapOffloads;
  if (has_feature(kernel_features_, VHOST_NET_F_VIRTIO_NET_HDR)) f |= feature_bit(VIRTIO_F_ANY_LAYOUT);
  return vhost::frontend_net_features(f, tap_.queues());
}

void VhostKernelTransport::set_driver_features(std::uint64_t features) {
  // §3.1.1: the features are fixed once FEATURES_OK is set. The kernel would take new ones
  // (and the tap a new header length) under rings already running, each side then framing
  // the headers its own way; they stay as they were until a reset.
  if (status_ & VIRTIO_CONFIG_S_FEATURES_OK) {
    if (features != driver_features_)
      runtime::logger("vhost").warn("{}: features written after FEATURES_OK are ignored", describe());
    return;
  }
  driver_features_ = features;
  Result<> r = apply_features();
  features_accepted_ = r.ok();
  if (!r) runtime::logger("vhost").warn("{}: {}", describe(), r.error().to_string());
}

Result<> VhostKernelTransport::apply_features() {
  if (driver_features_ & ~device_features()) return Fault(TransportError::BadRequest, "features the device does not offer");
  // After revoke_dma() or a failed reset there is no kernel to take them.
  if (vhost_fds_.size() != tap_.queues()) return Fault(TransportError::BackendClosed, describe() + " has no vhost files open");
  const std::uint64_t to_kernel = driver_features_ & kernel_features_ & kFromKernel;
  for (int fd : vhost_fds_)
    if (::ioctl(fd, VHOST_SET_FEATURES, &to_kernel) != 0) return system_fault("VHOST_SET_FEATURES");
  if (auto r = tap_.set_header_length(header_length(driver_features_)); !r) return r;
  return tap_.set_offloads(tun_offloads(driver_features_));
}

std::size_t VhostKernelTransport::config_size() const { return net::kConfigSize; }

void VhostKernelTransport::read_config(std::size_t offset, std::span<std::byte> out) {
  // The tap's carrier is on while a queue file is attached, which it is from open on.
  vhost::read_frontend_config(offset, out, true, tap_.queues());
}

std::uint16_t VhostKernelTransport::queue_count() { return net::queue_count_of(tap_.queues()); }

std::uint32_t VhostKernelTransport::control_index() const noexcept {
  return net::control_queue_index(driver_features_, tap_.queues());
}

Result<> VhostKernelTransport::send_memory_table(unsigned pair) {
  auto regions = vhost::guest_memory(kMaxMemoryRegions, "vhost-net");
  if (!regions) return std::move(regions).error();
  MemoryTable table{};
  table.header.nregions = static_cast<std::uint32_t>(regions->size());
  for (std::size_t i = 0; i < regions->size(); ++i) {
    const vhost::GuestRegion& r = (*regions)[i];
    table.regions[i] = {r.guest_address, r.size, r.user_address, 0};
  }
  if (::ioctl(vhost_fds_[pair], VHOST_SET_MEM_TABLE, &table) != 0) return system_fault("VHOST_SET_MEM_TABLE");
  memory_sent_[pair] = true;
  return Ok{};
}

Result<> VhostKernelTransport::enable_queue(const transport::QueueSetup& s) {
  if (has_feature(driver_features_, net::VIRTIO_NET_F_CTRL_VQ) && s.index == control_index()) {
    control_ = std::make_unique<vhost::FrontendControlQueue>(
        driver_features_, s, tap_.queues(), ring_started_,
        [this](std::uint16_t ring, bool enable) { return enable_ring(ring, enable).ok(); });
    return Ok{};
  }
  if (s.index >= control_index() || s.index >= ring_started_.size())  // data queues come first (§5.1.2)
    return Fault(TransportError::BadRequest, "queue " + std::to_string(s.index) + " does not exist");
  const unsigned pair = s.index / 2;
  if (pair >= vhost_fds_.size()) return Fault(TransportError::BackendClosed, describe() + " has no vhost file open");
  const int fd = vhost_fds_[pair];
  if (!memory_sent_[pair])  // once the rings and pools exist, so that it covers all of them
    if (auto r = send_memory_table(pair); !r) return r;
  // Within the vhost file, ring 0 receives and ring 1 transmits: the pair's order (§5.1.2).
  const std::uint32_t ring = s.index % 2;
  const VringState num{ring, s.size};
  const VringState base{ring, vhost::initial_vring_base(has_feature(driver_features_, VIRTIO_F_RING_PACKED))};
  const VringAddress addr{ring, 0, s.addresses.desc, s.addresses.device, s.addresses.driver, 0};
  const VringFile kick{ring, kick_fds_[s.index]}, call{ring, call_fds_[s.index]};
  const char* failed = nullptr;
  if (::ioctl(fd, VHOST_SET_VRING_NUM, &num) != 0) failed = "VHOST_SET_VRING_NUM";
  else if (::ioctl(fd, VHOST_SET_VRING_BASE, &base) != 0) failed = "VHOST_SET_VRING_BASE";
  else if (::ioctl(fd, VHOST_SET_VRING_ADDR, &addr) != 0) failed = "VHOST_SET_VRING_ADDR";
  else if (::ioctl(fd, VHOST_SET_VRING_KICK, &kick) != 0) failed = "VHOST_SET_VRING_KICK";
  else if (::ioctl(fd, VHOST_SET_VRING_CALL, &call) != 0) failed = "VHOST_SET_VRING_CALL";
  if (failed) return system_fault(describe() + ": " + failed + " for queue " + std::to_string(s.index));
  ring_started_[s.index] = true;
  // No tap queue yet: the first pair's rings get theirs at DRIVER_OK (set_status), the other
  // pairs' at VQ_PAIRS_SET (§5.1.6.5.5).
  return Ok{};
}

// A ring works while it has a tap queue (VHOST_NET_SET_BACKEND); the tap steers frames to a
// queue only while it is attached, which a pair's queue is once both its rings are set up and
// until one is turned off.
Result<> VhostKernelTransport::enable_ring(std::uint16_t index, bool enable) {
  const unsigned pair = index / 2u;
  if (pair >= vhost_fds_.size() || !ring_started_[index]) return Fault(TransportError::BadRequest, "ring " + std::to_string(index) + " is not set up");
  if (!enable)
    if (auto r = tap_.attach(pair, false); !r) return r;
  const VringFile backend{index % 2u, enable ? tap_.fd(pair) : -1};
  if (::ioctl(vhost_fds_[pair], VHOST_NET_SET_BACKEND, &backend) != 0)
    return system_fault(describe() + ": VHOST_NET_SET_BACKEND for queue " + std::to_string(index));
  const std::uint16_t other = index ^ 1u;
  if (enable && ring_started_[other]) return tap_.attach(pair, true);
  return Ok{};
}

bool VhostKernelTransport::notify(std::uint16_t index) noexcept {
  if (control_ && index == control_index()) return control_->serve();
  if (index >= kick_fds_.size() || !ring_started_[index]) return false;
  const std::uint64_t one = 1;
  const ssize_t n = ::write(kick_fds_[index], &one, sizeof one);
  return n == sizeof one || errno == EAGAIN;  // a counter at its maximum still wakes the kernel
}

}  // namespace netfront::virtio::transport::vhost_kernel
