// Waking a sleeping loop on a queue's used buffer notifications: the transport's eventfds
// (vhost-user call fds, VFIO interrupts), watched on the loop that polls the queue.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "drivers/virtio/transport/transport.hpp"
#include "netfront/event_loop.hpp"
#include "drivers/virtio/net/device_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::net {

// The notification fds of `pair`'s two queues, or none if either has none (one queue that
// cannot wake its loop keeps that loop polling).
std::vector<int> interrupt_fds_of(const transport::Transport& t, unsigned pair);

using InterruptWatches = std::vector<std::unique_ptr<FdWatch>>;

// Watches notification eventfds on `loop`: waking the loop is the point; reading resets them.
// All or none: a loop that could miss one of them must not sleep on the others.
Result<InterruptWatches> drain_on_wake(EventLoop& loop, std::span<const int> fds);

}  // namespace netfront::virtio::net
