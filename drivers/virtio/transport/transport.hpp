// What a transport gives the virtio engine: the device's status and feature words, its
// configuration space, queue set-up and notifications (virtio 1.2 §4: PCI, MMIO, ... all
// provide the same "basic facilities" of §2). The engine never knows which transport it is on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "drivers/virtio/ring/chain.hpp"
#include "drivers/virtio/ring/dma_memory.hpp"
#include "drivers/virtio/transport/transport_error.hpp"
#include "drivers/virtio/virtio_result.hpp"

namespace netfront::virtio::transport {

struct QueueSetup {
  std::uint16_t index;
  std::uint16_t size;
  ring::QueueAddresses addresses;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // "vhost-user:/tmp/x.sock", "pci:0000:00:03.0", ...: for log lines.
  virtual std::string describe() const = 0;
  // What descriptors must carry: our virtual addresses or DPDK's IOVAs.
  virtual ring::AddressMode address_mode() const noexcept = 0;
  // The device speaks virtio's legacy interface (§4.1.4.8 for PCI, the 0.9.5 layout): 32
  // feature bits, no FEATURES_OK, queue sizes the device fixes, split rings only, laid out
  // with the used ring at a 4096-byte boundary (§2.7.2), and without VERSION_1 the header of
  // §5.1.6.1 without num_buffers unless MRG_RXBUF.
  virtual bool legacy() const noexcept { return false; }

  // §2.1 status. reset() writes 0 and waits, bounded, for the device to read back 0 (A12).
  virtual Result<> reset() = 0;
  // After a reset the device did not confirm: cut it off from our memory if the transport can
  // (PCI: bus mastering off; vhost-user: the connection, the backend's only claim on the
  // memory table, closed). True when done; false when the device may still read and write
  // the rings and buffers it was given, which must then never be freed or reused.
  virtual bool revoke_dma() noexcept = 0;
  // The driver is done with the device for good (Netif::disconnect): a transport that would
  // otherwise go on looking for its backend (a vhost-user client's reconnection, a server's
  // accepting) stops. Called after the last reset.
  virtual void close() noexcept {}
  virtual std::uint8_t status() = 0;
  virtual void set_status(std::uint8_t status) = 0;

  // §2.2 feature bits, all 64 of them.
  virtual std::uint64_t device_features() = 0;
  virtual void set_driver_features(std::uint64_t features) = 0;

  // §2.5 device configuration space. Reads may tear between fields; callers use the
  // generation counter (see read_config_consistent in the net layer).
  virtual std::uint32_t config_generation() = 0;
  virtual std::size_t config_size() const = 0;
  virtual void read_config(std::size_t offset, std::span<std::byte> out) = 0;

  // Queues: how many the device has, the largest size each takes (0: not available), and
  // set-up once the rings exist.
  virtual std::uint16_t queue_count() = 0;
  virtual std::uint16_t queue_max_size(std::uint16_t index) = 0;
  virtual Result<> enable_queue(const QueueSetup& setup) = 0;

  // Available-buffer notification (the doorbell). False if it could not be delivered (B9).
  virtual bool notify(std::uint16_t index) noexcept = 0;

  // The NUMA node the device sits on, where its rings and buffers belong; -1 if the transport
  // cannot tell (the engine then uses the node of the thread that opens the device).
  virtual int numa_node() const noexcept { return -1; }

  // Optional (§2.3 used-buffer notifications): an fd that becomes readable when the device
  // notifies the driver about queue `index`, valid once the queue is enabled; -1 if the
  // transport has none (the engine then keeps the loop polling instead of letting it sleep).
  virtual int interrupt_fd(std::uint16_t index) const noexcept {
    (void)index;
    return -1;
  }
};

}  // namespace netfront::virtio::transport
