#include "drivers/virtio/transport/vhost_user/fd_passing.hpp"

#include <cerrno>
#include <cstring>

namespace netfront::virtio::transport::vhost_user {

ssize_t send_with_fds(int socket, std::span<const iovec> parts, std::span<const int> fds) {
  if (fds.size() > VHOST_MEMORY_MAX_NREGIONS) {
    errno = EINVAL;
    return -1;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * VHOST_MEMORY_MAX_NREGIONS)]{};
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(parts.data());
  msg.msg_iovlen = parts.size();
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace netfront::virtio::transport::vhost_user
