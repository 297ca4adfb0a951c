// How the API layer opens a device without knowing any transport: every kind of device id
// has an opener, and the layer below (drivers/virtio/device_openers.cpp) supplies the table.
// A table the API layer asks for, not registrations made by static constructors, so that a
// static link keeps every transport.
#pragma once

#include <memory>
#include <span>

#include "drivers/netif/net_device.hpp"
#include "netfront/device_id.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/result.hpp"

namespace netfront::drivers {

struct DeviceOpener {
  DeviceId::Kind kind;
  // Opens and brings up the device on `loop`, the connecting thread's.
  Result<std::unique_ptr<NetDevice>> (*open)(const DeviceId& id, EventLoop& loop);
};

// Defined by the transports' layer.
std::span<const DeviceOpener> device_openers() noexcept;

// The device `id` names, opened by its kind's opener: Unimplemented for a kind no transport
// opens, Unknown without an event loop on this thread.
io<Result<std::unique_ptr<NetDevice>>> open_device(const DeviceId& id);

}  // namespace netfront::drivers
