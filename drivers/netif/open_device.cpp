// From a DeviceId to an opened device: one branch per transport.
#include "drivers/netif/net_device.hpp"

namespace netfront::drivers {

io<Result<std::unique_ptr<NetDevice>>> open_device(const DeviceId& id) {
  using Opened = Result<std::unique_ptr<NetDevice>>;
  switch (id.kind()) {
    case DeviceId::Kind::Loop:
      return make_ready_io(Opened(Error::unimplemented("the loop: in-process device is not in this build yet")));
    case DeviceId::Kind::VhostUser:
      return make_ready_io(Opened(Error::unimplemented("the vhost-user transport is not in this build yet")));
    case DeviceId::Kind::Pci:
      return make_ready_io(Opened(Error::unimplemented("the virtio-pci transport is not in this build yet")));
  }
  return make_ready_io(Opened(Error::unknown("device id of no known kind")));
}

}  // namespace netfront::drivers
