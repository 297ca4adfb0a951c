// lwIP on a Netif: the TCP/IP stack of an appliance, driven from the netfront event loop.
//
//   EventLoop loop;
//   auto stack = LwipStack::start(loop);                   // lwip_init, lwIP's timers on `loop`
//   auto dev = co_await Netif::connect("vhost-user:/tmp/vhost.sock");
//   auto addressing = Ipv4Addressing::parse("10.0.0.2/24,gw=10.0.0.1");
//   auto nif = (*stack)->attach(*dev, *addressing);        // an lwIP netif over the device
//   ... tcp_new() / tcp_bind() / tcp_listen() with lwIP's raw API (lwip/tcp.h) ...
//   co_await (*nif)->run();                                // frames both ways until disconnect
//
// lwIP is one set of global state per process and not thread-safe: every lwIP call, and the
// LwipStack with every LwipNetif, belongs to the thread that started the stack (its loop runs
// lwIP's timers; no tcpip thread is started). Built from Debian's liblwip-dev (lwIP 2.1.3),
// whose options are fixed by its lwipopts.h (docs/appliance.md says what follows from them).
//
// Receive is zero-copy: each received frame becomes a custom pbuf over the device's mbuf, which
// goes back to its pool when lwIP frees the pbuf. Two kinds are copied instead, so that what
// lwIP keeps never starves the device of receive buffers: every frame once lwIP holds half of
// the device's pool (TCP keeps unread and out-of-order segments, which a peer can send a byte
// each), and IP fragments (reassembly keeps them for up to a minute, past the netif's removal).
// Transmit copies what lwIP built into a device buffer once; pbufs made by buffer_pbuf() (bytes
// already in a device's memory) are sent as they are.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "netfront/buffer.hpp"
#include "netfront/io.hpp"
#include "netfront/result.hpp"

struct netif;
struct pbuf;

namespace netfront {

class EventLoop;
class Netif;
namespace lwip {
struct NetifGlue;
}

// An IPv4 address in network order, as written "a.b.c.d".
struct Ipv4Address {
  std::array<std::uint8_t, 4> bytes{};
  // Unknown (BadArgument) for anything but four decimal octets.
  static Result<Ipv4Address> parse(std::string_view text);
  std::string to_string() const;
  friend bool operator==(const Ipv4Address&, const Ipv4Address&) = default;
};

// A static address for an LwipNetif: "A.B.C.D[/PREFIX][,gw=A.B.C.D][,no-ipv6]" (prefix 24 when
// not given), the spelling of
// the appliances' --ip option and netfront.ip= kernel option. IPv6 gets a link-local address
// made from the MAC unless no-ipv6 is given.
struct Ipv4Addressing {
  Ipv4Address address;
  unsigned prefix_length = 24;
  Ipv4Address gateway;  // 0.0.0.0: none
  bool ipv6_link_local = true;
  // Unknown (BadArgument) naming the bad part: a malformed address, a prefix beyond 32, a
  // gateway outside the subnet, an unknown option.
  static Result<Ipv4Addressing> parse(std::string_view text);
  Ipv4Address netmask() const;
  std::string to_string() const;
};

// What one LwipNetif did with frames. Bytes are Ethernet frames' bytes.
struct LwipCounters {
  std::uint64_t rx_frames = 0;    // handed to lwIP
  std::uint64_t rx_dropped = 0;   // not handed over: beyond 64 KiB, or lwIP refused the pbuf
  std::uint64_t rx_copied = 0;    // handed over as copies (fragments, or lwIP held half the pool)
  std::uint64_t tx_frames = 0;    // given to the device
  std::uint64_t tx_copied_bytes = 0;  // copied from lwIP's memory into device buffers
  std::uint64_t tx_zero_copy_bytes = 0;  // sent from buffer_pbuf()s as they were
  std::uint64_t tx_waited = 0;    // frames that found the ring full and went out once it drained
  std::uint64_t tx_errors = 0;    // refused by the device (its error is logged once a second)
  std::uint64_t link_changes = 0;  // link up/down events passed to lwIP
};

class LwipNetif;

// lwIP itself, on one thread: lwip_init() once per process, and lwIP's timers
// (sys_check_timeouts) run from `loop`. One LwipStack may exist at a time.
class LwipStack {
 public:
  // Unknown (BadArgument) when another LwipStack exists, or lwIP was started on another thread.
  static Result<std::unique_ptr<LwipStack>> start(EventLoop& loop);
  ~LwipStack();
  LwipStack(const LwipStack&) = delete;
  LwipStack& operator=(const LwipStack&) = delete;

  // An lwIP netif over `device` (connected, on this thread), with its MAC and MTU, the link as
  // the device reports it, and `addressing`. The first netif attached is lwIP's default route.
  // The Netif must outlive the LwipNetif.
  Result<std::unique_ptr<LwipNetif>> attach(Netif& device, const Ipv4Addressing& addressing);

  // Received frames lwIP holds now, over every netif (they hold device buffers): what an
  // application counts before and after to see that nothing leaks.
  static std::uint64_t pbufs_held() noexcept;

 private:
  explicit LwipStack(EventLoop& loop);
  struct Timers;
  std::unique_ptr<Timers> timers_;
};

// One lwIP netif over one Netif (its queue pair 0).
class LwipNetif {
 public:
  ~LwipNetif();  // removes the netif from lwIP (which aborts its TCP connections)
  LwipNetif(const LwipNetif&) = delete;
  LwipNetif& operator=(const LwipNetif&) = delete;

  // Delivers received frames to lwIP and follows the device's link (netif_set_link_up/down,
  // a gratuitous ARP when the device asks to be announced) until the device disconnects.
  // Unknown if run is already running.
  io<Result<>> run();

  ::netif* netif() noexcept;
  const LwipCounters& counters() const noexcept;

 private:
  friend class LwipStack;
  explicit LwipNetif(std::shared_ptr<lwip::NetifGlue> glue) noexcept;
  std::shared_ptr<lwip::NetifGlue> glue_;  // shared with transmissions still waiting for ring space
};

// A pbuf over bytes that lie in a device's memory (`bytes` is kept alive until lwIP frees the
// pbuf): given to lwIP's raw or UDP API as a payload, it reaches the ring without a copy.
// nullptr when `bytes` is empty or beyond 65535 bytes.
::pbuf* buffer_pbuf(Buffer bytes);

}  // namespace netfront
