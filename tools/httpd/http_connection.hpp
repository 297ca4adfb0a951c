// Connection: one TCP connection of an HttpServer, from its accept to its close. It reads a
// request head, answers it (a page, a stream of /bytes, the echo of the body as it arrives),
// and waits for the next head; what the peer sends beyond the head stays in lwIP's pbufs, and
// the window is opened only for bytes consumed, so a peer is held to what the server takes.
#pragma once

#include <lwip/tcp.h>

#include <cstdint>
#include <string>

#include "tools/httpd/http_request.hpp"

namespace netfront::httpd {

class HttpServer;

class Connection {
 public:
  // `busy`: answered 503 at once and closed (the server has max_connections open).
  Connection(HttpServer& server, tcp_pcb* pcb, bool busy);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool busy() const noexcept { return busy_; }
  // Answers what is there already (the 503 of a busy server); the accept callback's result.
  err_t start();
  // Resets the connection (the server stops): no callback of it runs again.
  void abort() noexcept;

 private:
  enum class Phase { Head, Respond, Close };
  static err_t on_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t err);
  static err_t on_sent(void* arg, tcp_pcb* pcb, u16_t length);
  static err_t on_poll(void* arg, tcp_pcb* pcb);
  static void on_err(void* arg, err_t err);

  // Each returns ERR_ABRT once the connection is gone (`this` with it).
  err_t process();
  bool read_head();
  void answer(const RequestHead& head);
  void refuse(const Refusal& r);
  void respond(unsigned status, const char* reason, std::uint64_t length, const std::string& body,
               const char* extra_fields = "");
  bool flush_out();
  bool take_body();
  bool stream();
  std::size_t send(const void* data, std::size_t length, bool more);
  void finish_response();
  err_t close();
  void consume(std::size_t n);  // drops n bytes from the inbox and opens the window for them
  void skip_empty() noexcept;   // drops the inbox's leading pbufs of no bytes
  void end(bool reset) noexcept;  // the record goes; the pcb is closed or reset first

  HttpServer& server_;
  tcp_pcb* pcb_;
  bool busy_;
  Phase phase_ = Phase::Head;
  pbuf* inbox_ = nullptr;  // received and not consumed
  bool peer_closed_ = false;
  std::string head_;       // the head read so far
  std::string out_;        // status line and fields (and a small body) not yet sent
  std::size_t out_at_ = 0;
  std::uint64_t body_left_ = 0;    // request body bytes still to take
  bool echo_ = false;              // the body goes back (POST /echo); otherwise it is dropped
  std::uint64_t stream_left_ = 0;  // /bytes still to send
  std::uint64_t stream_at_ = 0;
  bool keep_alive_ = true;
  bool http10_ = false;  // the request was HTTP/1.0
  unsigned quiet_ticks_ = 0;  // poll ticks (half seconds) without bytes taken in or acked
  unsigned head_ticks_ = 0;   // poll ticks since the head's first byte
};

}  // namespace netfront::httpd
