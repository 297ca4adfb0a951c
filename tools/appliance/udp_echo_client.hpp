// The host side of the echo appliance's traffic: UDP datagrams of mixed sizes sent to a port
// on the host's loopback (QEMU forwards it into the guest), every echo checked byte for byte.
// A few datagrams in flight at a time; one whose echo does not come back in time is sent
// again (counted), since QEMU's user networking drops while it resolves the guest's MAC.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace netfront::appliance {

struct EchoRunOptions {
  std::uint32_t address = 0x7f000001;  // IPv4, host order: 127.0.0.1 (QEMU's forwarded port)
  std::uint16_t port = 0;
  unsigned count = 1000;
  std::size_t min_size = 1;
  std::size_t max_size = 1472;  // the largest UDP payload of a 1500-byte MTU frame
  unsigned window = 8;
  std::chrono::milliseconds retry_after{1000};
  unsigned max_tries = 5;
};

struct EchoRunResult {
  unsigned sent = 0;         // distinct datagrams
  unsigned echoed = 0;       // with an echo of the right length and bytes
  unsigned mismatched = 0;   // echoes whose bytes differed
  unsigned lost = 0;         // no echo after max_tries
  unsigned retransmits = 0;
  std::size_t bytes = 0;
  double seconds = 0;
  std::string error;         // socket trouble, if any
  bool all_echoed() const { return error.empty() && echoed == sent && mismatched == 0 && lost == 0; }
};

// Payload size of datagram `i` of `n`: spans min..max, the first and last at the two ends.
std::size_t echo_datagram_size(unsigned i, const EchoRunOptions& o);

EchoRunResult run_udp_echo(const EchoRunOptions& options);

// A UDP port on 127.0.0.1 that is free right now (for QEMU to forward).
std::uint16_t free_udp_port();
// A port of 127.0.0.1 free now for sockets of `socket_type` (SOCK_DGRAM, SOCK_STREAM); 0 if none.
std::uint16_t free_loopback_port(int socket_type);

}  // namespace netfront::appliance
