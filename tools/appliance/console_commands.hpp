// The echo appliance's console commands beyond "stop": the receive filters and the MAC of its
// device, and its link, so that a user at the console (or a test driving QEMU) can set them and
// watch the device take them. One command a line; each answers with one line.
//
//   rx-mode NAME on|off     NAME: promiscuous, all-multicast, all-unicast, no-multicast,
//                           no-unicast or no-broadcast
//   mac XX:XX:XX:XX:XX:XX   the device's MAC
//   mac-table UNICAST MULTICAST   comma-separated MAC lists, "-" for an empty one
//   vlan add|remove N
//   link                    the link as the device reports it
//   rss                     the RSS configuration in effect (rss.hpp)
//   rss table P[,P...]      the indirection table: queue pairs, a power of two of them
//   rss types T[+T...]      the hash types (ipv4, tcpv4, udpv4, ...), "none" for none
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "netfront/io.hpp"
#include "netfront/netif.hpp"

namespace netfront::appliance {

// Runs `line` on `dev` if it is one of the commands: the answer ("rx-mode promiscuous off:
// ok", or the command and what went wrong). nullopt when the line is no command of these.
io<std::optional<std::string>> run_console_command(Netif& dev, std::string line);

}  // namespace netfront::appliance
