// A Netif over a device already opened: how the device layer's tools and tests put their own
// devices (a fake, a loop device with its fault switches set) behind the public API.
#pragma once

#include <memory>

#include "drivers/netif/net_device.hpp"
#include "netfront/netif.hpp"

namespace netfront::drivers {

Netif attach(DeviceId id, std::unique_ptr<NetDevice> device);

}  // namespace netfront::drivers
