// The virtio transports' entries in the device registry: how each kind of device id becomes
// a VirtioNetDevice over its transport.
#include <rte_eal.h>

#include "drivers/netif/device_registry.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/transport/loop/loop_device.hpp"
#include "drivers/virtio/transport/mmio/mmio_transport.hpp"
#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/pci/open_transport.hpp"
#include "drivers/virtio/transport/vhost_kernel/vhost_kernel_transport.hpp"
#include "drivers/virtio/transport/vhost_user/vhost_user_transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/dpdk_env.hpp"

namespace netfront::virtio {
namespace {

using drivers::NetDevice;
using net::DeviceOptions;
using net::VirtioNetDevice;
using Opened = Result<std::unique_ptr<NetDevice>>;  // a Fault of whichever layer failed

// The registry is the API's door: an opener's Fault becomes the application's Error there.
template <Opened (*Open)(const DeviceId&, EventLoop&)>
netfront::Result<std::unique_ptr<NetDevice>> answer(const DeviceId& id, EventLoop& loop) {
  return runtime::to_api(Open(id, loop));
}

// The features a vhost id's options turn down.
std::uint64_t declined(const FeatureChoice& accept) {
  std::uint64_t bits = 0;
  if (!accept.packed) bits |= feature_bit(VIRTIO_F_RING_PACKED);
  if (!accept.in_order) bits |= feature_bit(VIRTIO_F_IN_ORDER);
  if (!accept.event_idx) bits |= feature_bit(VIRTIO_F_EVENT_IDX);
  if (!accept.mrg_rxbuf) bits |= feature_bit(net::VIRTIO_NET_F_MRG_RXBUF);
  if (!accept.indirect) bits |= feature_bit(VIRTIO_F_INDIRECT_DESC);
  return bits;
}

// What every kind of id asks of the device.
DeviceOptions options_of(const DeviceId& id) {
  return {.queue_pairs = id.queue_pairs(),
          .offloads = id.offloads(),
          .mtu = id.mtu(),
          .vlan_filter = id.vlan_filter(),
          .hash_report = id.hash_report()};
}

// The engine over an opened transport (or the transport's failure, passed on).
template <typename T>
Opened drive(Result<std::unique_ptr<T>> transport, const DeviceOptions& options) {
  if (!transport) return std::move(transport).error();
  auto opened = VirtioNetDevice::open(std::move(*transport), options);
  if (!opened) return std::move(opened).error();
  return std::unique_ptr<NetDevice>(std::move(*opened));
}

Opened open_loop(const DeviceId& id, EventLoop& loop) {
  return drive(Result<std::unique_ptr<transport::loop::LoopDevice>>(
                   std::make_unique<transport::loop::LoopDevice>(id.loop(), id.queue_pairs(), &loop)),
               options_of(id));
}

Opened open_vhost_user(const DeviceId& id, EventLoop& loop) {
  // vhost-user backends map our memory by file descriptor: DPDK must be up before we connect.
  if (auto started = DpdkEnv::start(); !started) return Fault(std::move(started).error());
  auto transport = transport::vhost_user::VhostUserTransport::open(id.vhost_user(), loop);
  DeviceOptions options = options_of(id);
  options.declined_features = declined(id.vhost_user().accept);
  return drive(std::move(transport), options);
}

Opened open_vhost_net(const DeviceId& id, EventLoop&) {
  // The rings and packet rooms are device memory, which DPDK's start sets up.
  if (auto started = DpdkEnv::start(); !started) return Fault(std::move(started).error());
  auto transport = transport::vhost_kernel::VhostKernelTransport::open(id.vhost_net(), id.queue_pairs());
  DeviceOptions options = options_of(id);
  options.declined_features = declined(id.vhost_net().accept);
  return drive(std::move(transport), options);
}

Opened open_pci(const DeviceId& id, EventLoop&) {
  // The device is given DPDK's IOVAs: DPDK (and its VFIO container, if any) must be up first.
  if (auto started = DpdkEnv::start(); !started) return Fault(std::move(started).error());
  auto function = transport::pci::open_pci_function(id.pci());
  if (!function) return std::move(function).error();
  // A3: behind an IOMMU (VFIO) the device must translate through it; without one (uio) the
  // translation is the identity, so the feature is taken if offered but not required.
  const bool iommu = (*function)->kernel_driver() == transport::pci::KernelDriver::Vfio;
  auto transport = transport::pci::open_virtio_pci(std::move(*function));
  DeviceOptions options = options_of(id);
  options.access_platform = iommu;
  options.accept_access_platform = !iommu;
  return drive(std::move(transport), options);
}

Opened open_mmio(const DeviceId& id, EventLoop&) {
  if (auto started = DpdkEnv::start(); !started) return Fault(std::move(started).error());
  // No IOMMU on this path: the device is given physical addresses, which DPDK only knows with
  // hugepages, as root.
  if (rte_eal_iova_mode() != RTE_IOVA_PA)
    return Fault(transport::TransportError::Unsupported, "mmio:" + id.mmio().to_string() +
                                                             " needs physical addresses, but DPDK runs in IOVA-as-VA mode (hugepages are "
                                                             "needed, as root)");
  auto window = transport::mmio::map_device_window(id.mmio().physical);
  if (!window) return std::move(window).error();
  auto transport = transport::mmio::MmioTransport::open(std::move(*window));
  DeviceOptions options = options_of(id);
  options.accept_access_platform = true;  // identity translation: taken if offered
  return drive(std::move(transport), options);
}

constexpr drivers::DeviceOpener kOpeners[] = {
    {DeviceId::Kind::Loop, answer<open_loop>},
    {DeviceId::Kind::VhostUser, answer<open_vhost_user>},
    {DeviceId::Kind::Pci, answer<open_pci>},
    {DeviceId::Kind::Mmio, answer<open_mmio>},
    {DeviceId::Kind::VhostNet, answer<open_vhost_net>},
};

}  // namespace
}  // namespace netfront::virtio

std::span<const netfront::drivers::DeviceOpener> netfront::drivers::device_openers() noexcept {
  return virtio::kOpeners;
}
