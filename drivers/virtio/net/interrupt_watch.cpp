#include "drivers/virtio/net/interrupt_watch.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>

#include "drivers/virtio/net/net_spec.hpp"

namespace netfront::virtio::net {

std::vector<int> interrupt_fds_of(const transport::Transport& t, unsigned pair) {
  std::vector<int> fds;
  for (std::uint16_t index : {rx_queue_index(pair), tx_queue_index(pair)}) {
    const int fd = t.interrupt_fd(index);
    if (fd < 0) return {};
    fds.push_back(fd);
  }
  return fds;
}

Result<InterruptWatches> drain_on_wake(EventLoop& loop, std::span<const int> fds) {
  InterruptWatches watches;
  for (int fd : fds) {
    auto watch = FdWatch::start(loop, fd, EPOLLIN, [fd](std::uint32_t) {
      std::uint64_t count;
      (void)!::read(fd, &count, sizeof count);
    });
    if (!watch) return Fault(std::move(watch).error());
    watches.push_back(std::move(*watch));
  }
  return watches;
}

}  // namespace netfront::virtio::net
