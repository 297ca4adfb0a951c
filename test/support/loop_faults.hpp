// The loop device with its fault switches: what tests build to meet a device that breaks
// the rules (docs/reliability.md). Only test code links it; the production library has the
// well-behaved device alone (BasicLoopDevice<NoFaults>).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/loop/loop_device.hpp"
#include "netfront/mac_address.hpp"

namespace netfront::virtio::transport::loop {

// Switches for tests. One-shot faults fire at the next occasion and clear themselves;
// persistent ones hold until cleared. The codes are docs/reliability.md's.
struct LoopFaults {
  static constexpr bool kEnabled = true;

  bool used_id_out_of_range = false;     // B1: next TX completion names id >= queue size
  bool used_id_not_outstanding = false;  // B2: next TX completion is written twice
  bool used_index_jump = false;          // B3 (split) / B5 (packed): corrupt the used index/flags
  bool in_order_batch_overreach = false; // B6 (split, in order): a batch's entry moves the used index by one only
  bool scribble_descriptors = false;     // B4: overwrite a TX chain's descriptors after reading them
  bool rx_len_too_long = false;          // C1: RX used len beyond what was posted
  bool rx_len_too_short = false;         // C2: RX used len shorter than header + Ethernet header
  bool rx_len_without_header = false;    // C4: RX used len shorter than the virtio-net header itself
  bool rx_follower_len_too_long = false; // C1: the second buffer of the next merged frame claims too much
  bool rx_num_buffers_zero = false;      // C4
  bool rx_num_buffers_too_many = false;  // C4
  // C9, persistent: with HASH_REPORT, every received header's hash fields are these instead.
  std::optional<virtio::net::virtio_net_hash> rx_hash;
  bool tx_used_len_garbage = false;      // C3, persistent: TX used len is nonsense
  bool notify_fails = false;             // B9, persistent
  bool stall = false;                    // persistent: the device stops working its rings
  // One-shot, after the next transmit turn that took something: the device works that
  // transmit ring again only once its doorbell rings, yet leaves its event index behind what
  // it took, so the suppression rules never oblige the driver to ring (a device that lost
  // track of a notification; only a split ring with event indices can say so).
  bool tx_loses_doorbell = false;
  // One-shot, after the next transmit turn that took something: the device fills no receive
  // buffer until the receive doorbell rings (its receive event index never moves past the
  // first, so on a split ring with event indices the driver is never obliged to ring it).
  bool rx_loses_doorbell = false;
  bool reject_features_ok = false;       // A1, persistent: FEATURES_OK never sticks
  bool unstable_config_generation = false;  // A8, persistent
  bool needs_reset = false;              // A13: set DEVICE_NEEDS_RESET (one-shot)
  bool mq_without_ctrl_vq = false;       // A2, persistent: offer MQ without CTRL_VQ
  bool no_version_1 = false;             // A3, persistent
  std::uint64_t withdraw_features = 0;   // F5, persistent: stop offering these (seen at the next reset)
  std::optional<std::uint16_t> mtu;      // A5: offer this MTU
  std::optional<MacAddress> mac;         // A6: offer this MAC
  std::optional<std::uint16_t> max_virtqueue_pairs;  // A4: report this instead of the real count
  // Persistent: report these RSS limits instead of the model's (seen at the next reset).
  std::optional<std::uint8_t> rss_max_key_size;
  std::optional<std::uint32_t> rss_hash_types;
  // A11, persistent: queue index -> the largest size that queue takes (below size=N), so that
  // queues of one device differ; a larger size is refused at set-up, as a device would.
  std::map<std::uint16_t, std::uint16_t> queue_max_sizes;
  // Persistent: write at most this many bytes into each receive buffer, so frames spread over
  // several buffers (MRG_RXBUF) and non-final buffers are not full (C5).
  std::optional<std::uint32_t> rx_chunk;
  // A12, persistent: a reset is never completed (status never reads back 0) and the device
  // goes on working the rings it has; with dma_not_revocable nothing can cut it off from the
  // driver's memory either (else revoke_dma() stops it, like bus mastering turned off).
  bool reset_never_completes = false;
  bool dma_not_revocable = false;
  bool control_no_answer = false;        // D1, persistent: control commands are never answered
  std::optional<std::uint8_t> control_ack;  // D2, persistent: answer every command with this byte
  // D2, persistent: answer VIRTIO_NET_ERR to this one command (class, command) only.
  std::optional<std::pair<std::uint8_t, std::uint8_t>> refuse_command;
  // Persistent: a device gone bad writes garbage wherever it can reach, this many times each
  // poll: random bytes at random places of all the driver's device memory in use (packet data
  // rooms, headers, indirect tables), its own rings too with scribble_rings.
  unsigned scribble = 0;
  bool scribble_rings = false;
  // Not a fault: every device status the driver writes (0 for a reset), kept where a test
  // can read it after the device is gone.
  std::shared_ptr<std::vector<std::uint8_t>> status_log;
};

using FaultyLoopDevice = BasicLoopDevice<LoopFaults>;
extern template class BasicLoopDevice<LoopFaults>;

}  // namespace netfront::virtio::transport::loop
