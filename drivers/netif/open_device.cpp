// From a DeviceId to an opened device: one branch per transport.
#include "drivers/netif/net_device.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/transport/loop/loop_device.hpp"

namespace netfront::drivers {

using Opened = Result<std::unique_ptr<NetDevice>>;

namespace {

Opened open_loop(const DeviceId& id) {
  runtime::EventLoop* loop = runtime::EventLoop::current();
  if (!loop) return Error::unknown("connect needs an event loop on this thread");
  auto device = std::make_unique<virtio::loop::LoopDevice>(id.loop(), id.queue_pairs(), loop);
  auto opened = virtio::net::VirtioNetDevice::open(std::move(device), {.queue_pairs = id.queue_pairs()});
  if (!opened) return std::move(opened).error();
  return std::unique_ptr<NetDevice>(std::move(*opened));
}

}  // namespace

io<Result<std::unique_ptr<NetDevice>>> open_device(const DeviceId& id) {
  switch (id.kind()) {
    case DeviceId::Kind::Loop:
      return make_ready_io(open_loop(id));
    case DeviceId::Kind::VhostUser:
      return make_ready_io(Opened(Error::unimplemented("the vhost-user transport is not in this build yet")));
    case DeviceId::Kind::Pci:
      return make_ready_io(Opened(Error::unimplemented("the virtio-pci transport is not in this build yet")));
  }
  return make_ready_io(Opened(Error::unknown("device id of no known kind")));
}

}  // namespace netfront::drivers
