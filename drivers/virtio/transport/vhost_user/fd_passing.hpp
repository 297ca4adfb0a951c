// Sending bytes with file descriptors attached (SCM_RIGHTS, unix(7)): how a vhost-user
// front-end hands its memory and eventfds to the back-end (vhost-user.rst, "Communication").
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <span>

#include "drivers/virtio/transport/vhost_user/protocol.hpp"

namespace netfront::virtio::transport::vhost_user {

// sendmsg(2) of `parts` on `socket` with `fds` attached, retried on EINTR, never raising
// SIGPIPE; its result. At most VHOST_MEMORY_MAX_NREGIONS descriptors (a memory table's
// regions, the most one message carries): more is -1 with errno EINVAL.
ssize_t send_with_fds(int socket, std::span<const iovec> parts, std::span<const int> fds);

}  // namespace netfront::virtio::transport::vhost_user
