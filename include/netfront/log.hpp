// Log levels. netfront logs to stderr per component: runtime (DPDK start-up, memory, loop
// threads), dpdk (DPDK's own messages), net (the virtio-net driver: rings, recovery), netif
// (connect and disconnect), vhost and pci (the transports), loop and device (the in-process
// loop: device). The levels start from NETFRONT_LOG, in the syntax set_levels takes; without
// it every component is at info. netfront's loggers are its own: an application's spdlog
// loggers are neither changed by these calls nor written to by netfront.
#pragma once

#include <string_view>

#include "netfront/result.hpp"

namespace netfront::log {

enum class Level { Trace, Debug, Info, Warn, Error, Critical, Off };

// "warn" (every component) or "info,net=debug,dpdk=warn" (every component, then some), items
// separated by commas (spaces around them are ignored), level names as spdlog spells them:
// trace, debug, info, warning (or warn), error (or err), critical, off. A malformed spec or an
// unknown component is refused whole (Unknown, naming the fault) and changes nothing.
Result<> set_levels(std::string_view spec);

// Every component, or one (Unknown for a component netfront does not have).
void set_level(Level level);
Result<> set_level(std::string_view component, Level level);

}  // namespace netfront::log
