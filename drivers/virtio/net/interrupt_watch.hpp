// Waking a sleeping loop on a queue's used buffer notifications: the transport's eventfds
// (vhost-user call fds, VFIO interrupts), watched on the loop that polls the queue.
#pragma once

#include <memory>
#include <vector>

#include "drivers/virtio/transport/transport.hpp"
#include "netfront/event_loop.hpp"

namespace netfront::virtio::net {

// The notification fds of `pair`'s two queues, or none if either has none (one queue that
// cannot wake its loop keeps that loop polling).
std::vector<int> interrupt_fds_of(const transport::Transport& t, unsigned pair);

// Watches a notification eventfd on `loop`: waking the loop is the point; reading resets it.
std::unique_ptr<FdWatch> drain_on_wake(EventLoop& loop, int fd);

}  // namespace netfront::virtio::net
