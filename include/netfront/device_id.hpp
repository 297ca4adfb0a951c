// DeviceId: the `id` of the NETWORK signature, parsed from a string:
//   vhost-user:/path/to.sock[,server][,queues=N]   a vhost-user backend's unix socket
//                   [,reconnect=MS]                (client mode: retry a lost backend every
//                                                  MS ms, 1000 unless given; 0: never)
//   vhost-net:TAPNAME[,queues=N]                   the kernel's vhost-net, moving frames to and
//                                                  from tap TAPNAME (made if there is none)
//   pci:[DDDD:]BB:DD.F[,queues=N]                  a virtio-net PCI function (domain 0 if omitted)
//   mmio:ADDRESS[,queues=N]                        a virtio-mmio device's window (0x... or decimal)
//   loop:[option[,option...]]                      the in-process device (see LoopOptions)
// Every kind also takes offloads=NAME[+NAME...] (netfront/offload.hpp): the offloads to ask
// the device for, of csum, tso4, tso6, ecn, uso and rx_csum, or all of them as "all"; and
// mtu=N (kMinMtu..kMaxMtu): the MTU to use where the device says none (vhost-user backends),
// or a smaller one than it says; vlan_filter: negotiate the device's VLAN filter
// (VIRTIO_NET_F_CTRL_VLAN, rx_filter.hpp), under which it drops tagged frames of every VLAN
// not added with Netif::add_vlan; without it every tagged frame is received; and hash_report:
// negotiate the device's per-frame hash (VIRTIO_NET_F_HASH_REPORT, rss.hpp).
// Anything else is an error whose message names the part that is wrong.
//
// vhost-user and vhost-net ids may also decline ring features the backend offers, the way DPDK's
// virtio-user does: packed=off, mrg_rxbuf=off, in_order=off, event_idx=off, indirect=off (all default on:
// netfront takes what the backend offers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "netfront/frame_limits.hpp"
#include "netfront/offload.hpp"
#include "netfront/result.hpp"

namespace netfront {

// Queue pairs are bounded by the spec's max_virtqueue_pairs range (virtio 1.2 §5.1.4).
inline constexpr unsigned kMaxQueuePairs = 0x8000;

// Ring features a driver may decline even when the device offers them.
struct FeatureChoice {
  bool packed = true;
  bool mrg_rxbuf = true;
  bool in_order = true;
  bool event_idx = true;
  bool indirect = true;
  friend bool operator==(const FeatureChoice&, const FeatureChoice&) = default;
};

struct VhostUserAddress {
  std::string socket_path;
  bool server = false;  // netfront listens and (re-)accepts the backend
  // Client mode: how often to try the socket again once the backend went away (a switch
  // restarted: its server socket comes back), in ms; 0: never, the link stays down for good.
  unsigned reconnect_ms = 1000;
  FeatureChoice accept;
  friend bool operator==(const VhostUserAddress&, const VhostUserAddress&) = default;
};

// A tap of the host's kernel (an interface name, at most 15 characters) that vhost-net joins
// to the rings; netfront attaches to it with one queue per queue pair.
struct VhostNetAddress {
  std::string tap_name;
  FeatureChoice accept;
  friend bool operator==(const VhostNetAddress&, const VhostNetAddress&) = default;
};

struct PciAddress {
  std::uint16_t domain = 0;
  std::uint8_t bus = 0;
  std::uint8_t device = 0;    // 0..31
  std::uint8_t function = 0;  // 0..7
  std::string to_string() const;  // "0000:00:03.0", the sysfs spelling
  friend bool operator==(const PciAddress&, const PciAddress&) = default;
};

// A virtio-mmio device's register window (virtio 1.2 §4.2): its physical address, as the
// firmware gives it (/proc/iomem; QEMU's microvm: 0xfeb00000 and on, 512 bytes apart).
struct MmioAddress {
  std::uint64_t physical = 0;
  std::string to_string() const;  // "0xfeb00000"
  friend bool operator==(const MmioAddress&, const MmioAddress&) = default;
};

// The in-process device's switches; every one has a spelling in the id ("loop:packed,size=256").
struct LoopOptions {
  bool packed = false;       // packed instead of split virtqueues
  bool mrg_rxbuf = true;     // VIRTIO_NET_F_MRG_RXBUF
  bool event_idx = true;     // VIRTIO_F_EVENT_IDX
  bool in_order = false;     // VIRTIO_F_IN_ORDER
  bool indirect = true;      // VIRTIO_F_INDIRECT_DESC
  unsigned queue_size = 256; // ring entries, a power of two from 2 to 32768
  bool echo = true;          // echo frames back (false: sink them)
  bool rss = false;          // offer VIRTIO_NET_F_RSS (with queues=N over 1)
  bool legacy = false;       // a legacy device (virtio 0.9.5 interface; split rings only)
  friend bool operator==(const LoopOptions&, const LoopOptions&) = default;
};

// The options every kind of id takes.
struct CommonOptions {
  unsigned queues = 1;
  Offloads offloads{};
  std::uint16_t mtu = 0;
  bool vlan_filter = false;
  bool hash_report = false;
  friend bool operator==(const CommonOptions&, const CommonOptions&) = default;
};

class DeviceId {
 public:
  enum class Kind { VhostUser, Pci, Loop, Mmio, VhostNet, None };

  static Result<DeviceId> parse(std::string_view text);
  // No device (Kind::None): the id of a Netif that is not connected; to_string() is "".
  DeviceId() noexcept = default;

  Kind kind() const noexcept { return static_cast<Kind>(address_.index()); }
  unsigned queue_pairs() const noexcept { return common_.queues; }
  // The offloads asked for (offloads=...): negotiated where the device offers them.
  const Offloads& offloads() const noexcept { return common_.offloads; }
  // The MTU asked for (mtu=N); 0: the device's (1500 where it says none).
  std::uint16_t mtu() const noexcept { return common_.mtu; }
  // vlan_filter: the device's VLAN filter is negotiated (and starts empty).
  bool vlan_filter() const noexcept { return common_.vlan_filter; }
  // hash_report: received frames carry the hash the device computed, where it can.
  bool hash_report() const noexcept { return common_.hash_report; }
  const CommonOptions& common() const noexcept { return common_; }
  const VhostUserAddress& vhost_user() const { return std::get<VhostUserAddress>(address_); }
  const PciAddress& pci() const { return std::get<PciAddress>(address_); }
  const LoopOptions& loop() const { return std::get<LoopOptions>(address_); }
  const MmioAddress& mmio() const { return std::get<MmioAddress>(address_); }
  const VhostNetAddress& vhost_net() const { return std::get<VhostNetAddress>(address_); }

  // The canonical spelling; parse(to_string()) gives an equal id.
  std::string to_string() const;
  friend bool operator==(const DeviceId&, const DeviceId&) = default;

 private:
  using Address = std::variant<VhostUserAddress, PciAddress, LoopOptions, MmioAddress, VhostNetAddress, std::monostate>;
  DeviceId(Address address, const CommonOptions& common) : address_(std::move(address)), common_(common) {}
  Address address_{std::monostate{}};
  CommonOptions common_;
};

}  // namespace netfront
