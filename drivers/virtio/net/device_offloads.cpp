// A device's offloads at run time: frames sent with a TxOffload, and the receive offloads
// turned off and on through the control queue (virtio 1.2 §5.1.6.5.6).
#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/net/offload_header.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::net {

io<WriteResult> VirtioNetDevice::transmit_offloaded(unsigned queue, std::span<const Buffer> pieces, const TxOffload& offload) {
  return pairs_[queue]->transmit_with_header(pieces, tx_header(pieces, offload));
}

// §5.1.6.5.6: the GUEST_* bits of the offloads to have on; only negotiated ones may be set.
std::uint64_t VirtioNetDevice::guest_offload_bits() const noexcept {
  return receive_offloads_.rx_checksum ? feature_bit(VIRTIO_NET_F_GUEST_CSUM) : 0;
}

Result<> VirtioNetDevice::send_receive_offloads() {
  const std::uint64_t bits = guest_offload_bits();  // le64, on a little-endian host
  std::byte data[sizeof bits];
  std::memcpy(data, &bits, sizeof bits);
  return control_->execute(VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, data);
}

io<netfront::Result<>> VirtioNetDevice::set_receive_offloads(const Offloads& on) {
  if (!has_feature(features_, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) || !control_)
    return make_ready_io(netfront::Result<>(
        Error::unimplemented("the device offers no run-time switch of receive offloads (VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)")));
  if (state_ != State::Running) return make_ready_io(netfront::Result<>(Error::disconnected("the device is not running")));
  const Offloads before = receive_offloads_;
  receive_offloads_ = {.rx_checksum = on.rx_checksum};
  // D2: on any failure the device's state is not known to have changed; ours does not.
  if (auto r = send_receive_offloads(); !r) {
    receive_offloads_ = before;
    after_control_failure();
    return make_ready_io(runtime::to_api(std::move(r)));
  }
  runtime::logger("net").info("{}: receive offloads now {}", transport_->describe(),
                              receive_offloads_.any() ? receive_offloads_.to_string() : "off");
  return make_ready_io(netfront::Result<>(Ok{}));
}

}  // namespace netfront::virtio::net
