// HttpServer: HTTP/1.1 with keep-alive on lwIP's raw TCP API (lwip/tcp.h), every call on the
// thread of the LwipStack. What it serves:
//   GET /          a small status page (what ServerOptions::status_page writes)
//   GET /bytes/N   N bytes (0 <= N <= 2^32), byte i being i % 251, made as the window allows
//   POST /echo     the request's body back, sent as it arrives
// HEAD of the GET targets. It refuses what it must and goes on serving the others: a
// malformed head (400) or one beyond 8 KiB (431), chunked bodies (501), other versions (505),
// more than max_connections at once (503), and it closes connections that stay silent, send
// their head too slowly, or stop reading what they asked for.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include <lwip/err.h>

#include "netfront/result.hpp"

struct tcp_pcb;

namespace netfront::httpd {

class Connection;

struct ServerOptions {
  std::uint16_t port = 80;
  unsigned max_connections = 256;
  std::chrono::seconds head_timeout{10};   // from a head's first byte to its blank line
  std::chrono::seconds idle_timeout{30};   // a keep-alive connection with no request
  std::chrono::seconds stall_timeout{60};  // a response the peer does not take in
  std::function<std::string()> status_page = [] { return std::string("netfront-httpd\n"); };
  std::function<void()> first_request = [] {};  // called once, when the first head is parsed
};

struct ServerCounters {
  std::uint64_t accepted = 0;   // connections taken (refused_busy ones too)
  std::uint64_t refused_busy = 0;  // answered 503: max_connections were open
  std::uint64_t closed = 0;     // connections gone, whichever side ended them
  std::uint64_t requests = 0;   // heads parsed
  std::uint64_t refused = 0;    // heads refused (4xx, 5xx but 503 for being busy)
  std::uint64_t not_found = 0;  // 404 and 405
  std::uint64_t timed_out = 0;  // connections closed by a timeout
  std::uint64_t aborted = 0;    // connections reset (by the peer, lwIP or a stall)
  std::uint64_t body_bytes_in = 0;
  std::uint64_t bytes_out = 0;  // handed to TCP
};

class HttpServer {
 public:
  // Listens on `port` of every address (IPv4 and IPv6). Unknown when lwIP refuses.
  static Result<std::unique_ptr<HttpServer>> start(const ServerOptions& options);
  ~HttpServer();  // stops listening and resets every open connection
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const ServerCounters& counters() const noexcept { return counters_; }
  const ServerOptions& options() const noexcept { return options_; }
  std::size_t open_connections() const noexcept { return connections_.size(); }

  // lwIP's accept callback: a new connection (answered 503 beyond max_connections).
  err_t accept(tcp_pcb* pcb);

 private:
  friend class Connection;
  explicit HttpServer(const ServerOptions& options) : options_(options) {}
  void forget(Connection* c) noexcept;  // the connection's record goes
  ServerOptions options_;
  ServerCounters counters_;
  tcp_pcb* listener_ = nullptr;
  std::unordered_set<Connection*> connections_;
  unsigned serving_ = 0;  // connections counted against max_connections
};

}  // namespace netfront::httpd
