// The checks on an RSS configuration (netfront/rss.hpp), made before anything of it reaches a
// device: what the spec forbids the driver to send (virtio 1.2 §5.1.6.5, "Setting RSS
// parameters"), and what the device said it cannot take, is refused with a clear error.
#pragma once

#include "netfront/result.hpp"
#include "netfront/rss.hpp"

namespace netfront::drivers {

// Why `config` cannot go to a device of `caps` using `pairs` queue pairs, if it cannot.
Result<> check_rss_config(const RssConfig& config, const RssCapabilities& caps, unsigned pairs);

}  // namespace netfront::drivers
