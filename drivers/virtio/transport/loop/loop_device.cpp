// The loop device as it behaves: the build the library holds (loop: ids).
#include "drivers/virtio/transport/loop/loop_device_impl.hpp"

namespace netfront::virtio::transport::loop {

template class BasicLoopDevice<NoFaults>;

}  // namespace netfront::virtio::transport::loop
