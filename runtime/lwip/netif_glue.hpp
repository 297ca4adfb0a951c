// NetifGlue: what lies behind one LwipNetif: the lwIP netif, the device under it, and the glue
// between them (lwIP's netif callbacks, lwIP 2.1 netif.h: init, linkoutput; the receive handler).
#pragma once

#include <lwip/netif.h>

#include <optional>

#include "netfront/event_loop.hpp"
#include "netfront/lwip.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"

namespace netfront {

namespace lwip {
// The pool the headers of zero-copy sends are copied into: the LwipStack's, made on first use
// (nullptr when it cannot be made, or no stack exists).
PacketPool* header_pool() noexcept;
}  // namespace lwip

struct lwip::NetifGlue {
  explicit NetifGlue(Netif& dev) : device(&dev) {}

  // netif_init_fn: what lwIP asks of a driver at netif_add.
  static err_t init(::netif* nif);
  // netif_linkoutput_fn: one whole frame, Ethernet header included.
  static err_t linkoutput(::netif* nif, pbuf* p);

  void receive(Buffer&& frame);
  err_t transmit(pbuf* p);
  // A chain holding buffer_pbuf()s goes out as pieces: lwIP's own bytes (the headers it
  // prepended) copied once into a buffer of header_pool(), the device-memory bytes as they are.
  // False when the chain cannot be sent so (too many pieces, headers beyond one buffer): it is
  // then copied whole.
  bool transmit_in_pieces(pbuf* p);
  // Counts a write; one still waiting for ring space is left to finish on its own.
  void count_write(io<Result<>>&& written);
  void log_error(const Error& e);

  std::weak_ptr<NetifGlue> self;  // for the writes left to finish
  Netif* device;
  ::netif nif{};
  LwipCounters counters{};
  bool running = false;
  bool removed = false;  // the netif left lwIP: nothing touches `nif` again
  Clock::time_point last_error_log{};
};

}  // namespace netfront::lwip
