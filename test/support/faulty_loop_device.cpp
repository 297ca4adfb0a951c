// The loop device with its fault switches, for tests only.
#include "drivers/virtio/transport/loop/loop_device_impl.hpp"
#include "test/support/loop_faults.hpp"

namespace netfront::virtio::transport::loop {

template class BasicLoopDevice<LoopFaults>;

}  // namespace netfront::virtio::transport::loop
