#include "tools/httpd/http_server.hpp"

#include <lwip/tcp.h>

#include "tools/httpd/http_connection.hpp"

namespace netfront::httpd {
namespace {

err_t on_accept(void* arg, tcp_pcb* pcb, err_t err);

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const ServerOptions& options) {
  std::unique_ptr<HttpServer> server(new HttpServer(options));
  tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (!pcb) return Error::unknown(Error::Cause::NoResources, "lwIP has no memory for a listening socket");
  if (const err_t e = tcp_bind(pcb, IP_ANY_TYPE, options.port); e != ERR_OK) {
    tcp_close(pcb);
    return Error::unknown(Error::Cause::System, "lwIP cannot bind port " + std::to_string(options.port) + ": " + lwip_strerr(e));
  }
  err_t e = ERR_OK;
  server->listener_ = tcp_listen_with_backlog_and_err(pcb, TCP_DEFAULT_LISTEN_BACKLOG, &e);
  if (!server->listener_) {
    tcp_close(pcb);
    return Error::unknown(Error::Cause::System, std::string("lwIP cannot listen: ") + lwip_strerr(e));
  }
  tcp_arg(server->listener_, server.get());
  tcp_accept(server->listener_, on_accept);
  return server;
}

HttpServer::~HttpServer() {
  if (listener_) tcp_close(listener_);
  while (!connections_.empty()) (*connections_.begin())->abort();
}

err_t HttpServer::accept(tcp_pcb* pcb) {
  ++counters_.accepted;
  const bool busy = serving_ >= options_.max_connections;
  if (busy) ++counters_.refused_busy;
  else ++serving_;
  auto* c = new Connection(*this, pcb, busy);
  connections_.insert(c);
  return c->start();
}

void HttpServer::forget(Connection* c) noexcept {
  if (connections_.erase(c) == 0) return;
  if (!c->busy()) --serving_;
  ++counters_.closed;
  delete c;
}

namespace {

err_t on_accept(void* arg, tcp_pcb* pcb, err_t err) {
  if (err != ERR_OK || !pcb) return ERR_VAL;
  return static_cast<HttpServer*>(arg)->accept(pcb);
}

}  // namespace

}  // namespace netfront::httpd
