// From a DeviceId to an opened device: one branch per transport.
#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/transport/loop/loop_device.hpp"
#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/pci/virtio_pci_transport.hpp"
#include "drivers/virtio/transport/vhost_user/vhost_user_transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/dpdk_env.hpp"

namespace netfront::drivers {

using Opened = Result<std::unique_ptr<NetDevice>>;

namespace {

Opened open_loop(const DeviceId& id) {
  EventLoop* loop = EventLoop::current();
  if (!loop) return Error::unknown("connect needs an event loop on this thread");
  auto device = std::make_unique<virtio::loop::LoopDevice>(id.loop(), id.queue_pairs(), loop);
  auto opened = virtio::net::VirtioNetDevice::open(std::move(device), {.queue_pairs = id.queue_pairs()});
  if (!opened) return std::move(opened).error();
  return std::unique_ptr<NetDevice>(std::move(*opened));
}

Opened open_vhost_user(const DeviceId& id) {
  EventLoop* loop = EventLoop::current();
  if (!loop) return Error::unknown("connect needs an event loop on this thread");
  // vhost-user backends map our memory by file descriptor: DPDK must be up before we connect.
  if (auto started = DpdkEnv::start(); !started) return std::move(started).error();
  auto transport = virtio::vhost_user::VhostUserTransport::open(id.vhost_user(), *loop);
  if (!transport) return std::move(transport).error();
  const FeatureChoice& accept = id.vhost_user().accept;
  std::uint64_t declined = 0;
  if (!accept.packed) declined |= virtio::feature_bit(virtio::VIRTIO_F_RING_PACKED);
  if (!accept.in_order) declined |= virtio::feature_bit(virtio::VIRTIO_F_IN_ORDER);
  if (!accept.event_idx) declined |= virtio::feature_bit(virtio::VIRTIO_F_EVENT_IDX);
  if (!accept.mrg_rxbuf) declined |= virtio::feature_bit(virtio::net::VIRTIO_NET_F_MRG_RXBUF);
  if (!accept.indirect) declined |= virtio::feature_bit(virtio::VIRTIO_F_INDIRECT_DESC);
  auto opened = virtio::net::VirtioNetDevice::open(std::move(*transport),
                                                   {.queue_pairs = id.queue_pairs(), .declined_features = declined});
  if (!opened) return std::move(opened).error();
  return std::unique_ptr<NetDevice>(std::move(*opened));
}

Opened open_pci(const DeviceId& id) {
  if (!EventLoop::current()) return Error::unknown("connect needs an event loop on this thread");
  // The device is given DPDK's IOVAs: DPDK (and its VFIO container, if any) must be up first.
  if (auto started = DpdkEnv::start(); !started) return std::move(started).error();
  auto function = virtio::pci::open_pci_function(id.pci());
  if (!function) return std::move(function).error();
  auto transport = virtio::pci::VirtioPciTransport::open(std::move(*function));
  if (!transport) return std::move(transport).error();
  // A3: behind an IOMMU (VFIO) the device must translate through it; without one (uio) the
  // translation is the identity, so the feature is taken if offered but not required.
  const bool iommu = (*transport)->kernel_driver() == virtio::pci::KernelDriver::Vfio;
  auto opened = virtio::net::VirtioNetDevice::open(
      std::move(*transport), {.queue_pairs = id.queue_pairs(), .access_platform = iommu, .accept_access_platform = !iommu});
  if (!opened) return std::move(opened).error();
  return std::unique_ptr<NetDevice>(std::move(*opened));
}

}  // namespace

io<Result<std::unique_ptr<NetDevice>>> open_device(const DeviceId& id) {
  switch (id.kind()) {
    case DeviceId::Kind::Loop:
      return make_ready_io(open_loop(id));
    case DeviceId::Kind::VhostUser:
      return make_ready_io(open_vhost_user(id));
    case DeviceId::Kind::Pci:
      return make_ready_io(open_pci(id));
    case DeviceId::Kind::None:
      break;
  }
  return make_ready_io(Opened(Error::unknown("device id of no known kind")));
}

}  // namespace netfront::drivers
