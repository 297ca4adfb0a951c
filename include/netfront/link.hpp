// What a device says of its link (virtio 1.2 §5.1.4: status, speed and duplex; §5.1.6.5.4:
// announcements), as the application sees it: Netif::link_status() reads it, and
// Netif::link_change(seen) waits for it to differ from what the application last saw.
#pragma once

#include <cstdint>
#include <string>

namespace netfront {

enum class Duplex : std::uint8_t { Unknown, Half, Full };

struct LinkStatus {
  bool up = false;
  // Mbit/s; 0 when not known (the device offers no VIRTIO_NET_F_SPEED_DUPLEX, or says it does
  // not know).
  std::uint32_t speed_mbps = 0;
  Duplex duplex = Duplex::Unknown;
  // How many times the device asked to be announced (VIRTIO_NET_F_GUEST_ANNOUNCE, after a
  // live migration). netfront has sent a RARP for the device's MAC each time and acknowledged
  // the request; an application with addresses of its own sends its gratuitous ARP or
  // unsolicited neighbour advertisement when this count moves.
  std::uint64_t announcements = 0;

  friend bool operator==(const LinkStatus&, const LinkStatus&) = default;
  // "up 10000 Mbit/s full duplex", "down": for log lines.
  std::string to_string() const;
};

}  // namespace netfront
