// From a DeviceId to an opened device, through the registry the transports fill in.
#include "drivers/netif/device_registry.hpp"

namespace netfront::drivers {

io<Result<std::unique_ptr<NetDevice>>> open_device(const DeviceId& id) {
  using Opened = Result<std::unique_ptr<NetDevice>>;
  EventLoop* loop = EventLoop::current();
  if (!loop) return make_ready_io(Opened(Error::unknown(Error::Cause::BadArgument, "connect needs an event loop on this thread")));
  for (const DeviceOpener& opener : device_openers())
    if (opener.kind == id.kind()) return make_ready_io(opener.open(id, *loop));
  return make_ready_io(Opened(Error::unimplemented("no transport in this build opens " + id.to_string())));
}

}  // namespace netfront::drivers
