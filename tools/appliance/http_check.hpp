// The HTTP appliance's self-check, as a client outside the guest runs it (the main job's
// `--app httpd`): a page, a download checked byte for byte, an echo of random bytes, and many
// requests on one keep-alive connection.
#pragma once

#include <cstdint>
#include <string>

namespace netfront::appliance {

struct HttpCheckOptions {
  std::uint16_t port = 0;                        // on 127.0.0.1
  std::uint64_t download_bytes = 32ull << 20;    // GET /bytes/N
  std::size_t echo_bytes = 4u << 20;             // POST /echo
  unsigned keep_alive_requests = 200;            // GET /bytes/1000 on one connection
};

struct HttpCheckResult {
  bool ok = false;
  std::string report;  // one line per step, and what failed
};

HttpCheckResult run_http_check(const HttpCheckOptions& options);

// A TCP port of 127.0.0.1 nothing listens on now (QEMU is then told to forward it).
std::uint16_t free_tcp_port();

}  // namespace netfront::appliance
