#include "tools/httpd/http_connection.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "tools/httpd/http_server.hpp"

namespace netfront::httpd {
namespace {

constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 32;  // the largest /bytes/N
constexpr unsigned kPollTicksPerSecond = 2;                  // tcp_poll counts half seconds
constexpr std::size_t kMaxWrite = 0xFFFF;                    // tcp_write takes a u16_t length
constexpr std::size_t kPatternPeriod = 251;

// Bytes i % 251 from any phase: a write of up to kMaxWrite starts at byte (i % 251) of it.
const std::array<std::uint8_t, kMaxWrite + kPatternPeriod>& pattern() {
  static const auto table = [] {
    std::array<std::uint8_t, kMaxWrite + kPatternPeriod> t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint8_t>(i % kPatternPeriod);
    return t;
  }();
  return table;
}

unsigned ticks(std::chrono::seconds s) { return static_cast<unsigned>(s.count()) * kPollTicksPerSecond; }

// "/bytes/N": N, when it is a decimal number up to 2^32.
std::optional<std::uint64_t> bytes_count(std::string_view target) {
  constexpr std::string_view prefix = "/bytes/";
  if (target.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view digits = target.substr(prefix.size());
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || digits.size() > 10 || ec != std::errc{} || end != digits.data() + digits.size() || n > kMaxBytes)
    return std::nullopt;
  return n;
}

}  // namespace

Connection::Connection(HttpServer& server, tcp_pcb* pcb, bool busy) : server_(server), pcb_(pcb), busy_(busy) {
  tcp_arg(pcb_, this);
  tcp_recv(pcb_, on_recv);
  tcp_sent(pcb_, on_sent);
  tcp_err(pcb_, on_err);
  tcp_poll(pcb_, on_poll, 1);
  tcp_nagle_disable(pcb_);  // responses are whole when written: no reason to hold their tail
  if (busy_) refuse({503, "Service Unavailable"});
}

err_t Connection::start() { return process(); }

err_t Connection::on_recv(void* arg, tcp_pcb*, pbuf* p, err_t) {
  auto* c = static_cast<Connection*>(arg);
  if (!p) {
    c->peer_closed_ = true;
  } else if (c->inbox_) {
    pbuf_cat(c->inbox_, p);
  } else {
    c->inbox_ = p;
    c->skip_empty();
  }
  // Bytes that arrive are no progress by themselves (a peer that reads nothing can send them
  // a byte a minute): the quiet ticks end when the server takes bytes in or the peer acks.
  return c->process();
}

err_t Connection::on_sent(void* arg, tcp_pcb*, u16_t) {
  auto* c = static_cast<Connection*>(arg);
  c->quiet_ticks_ = 0;
  return c->process();
}

err_t Connection::on_poll(void* arg, tcp_pcb*) {
  auto* c = static_cast<Connection*>(arg);
  ++c->quiet_ticks_;
  const ServerOptions& o = c->server_.options();
  if (c->phase_ == Phase::Head) {
    if (!c->head_.empty() && ++c->head_ticks_ >= ticks(o.head_timeout)) {
      ++c->server_.counters_.timed_out;
      c->refuse({408, "Request Timeout"});
    } else if (c->head_.empty() && !c->inbox_ && c->quiet_ticks_ >= ticks(o.idle_timeout)) {
      ++c->server_.counters_.timed_out;
      return c->close();
    }
  } else if (c->quiet_ticks_ >= ticks(o.stall_timeout)) {
    // The peer takes nothing of what it asked for (a zero window, or gone without a word).
    ++c->server_.counters_.timed_out;
    c->end(true);
    return ERR_ABRT;
  }
  return c->process();
}

void Connection::on_err(void* arg, err_t) {
  auto* c = static_cast<Connection*>(arg);
  c->pcb_ = nullptr;  // lwIP freed it already
  ++c->server_.counters_.aborted;
  c->end(false);
}

err_t Connection::process() {
  for (bool progress = true; progress;) {
    progress = false;
    switch (phase_) {
      case Phase::Head:
        if (!inbox_ && peer_closed_) return close();
        progress = read_head();
        break;
      case Phase::Respond:
        progress = flush_out();
        if (out_.empty()) progress = take_body() | stream() | progress;
        if (out_.empty() && body_left_ == 0 && stream_left_ == 0) {
          finish_response();
          progress = true;
        } else if (body_left_ > 0 && !inbox_ && peer_closed_) {
          return close();  // the body will never come
        }
        break;
      case Phase::Close:
        flush_out();
        if (out_.empty()) return close();
        if (inbox_) consume(inbox_->tot_len);  // nothing more is read
        break;
    }
  }
  tcp_output(pcb_);
  return ERR_OK;
}

bool Connection::read_head() {
  if (!inbox_) return false;
  const std::size_t before = head_.size();
  const std::size_t n = std::min<std::size_t>(inbox_->tot_len, kMaxHeadBytes + 1 - before);
  head_.resize(before + n);
  pbuf_copy_partial(inbox_, head_.data() + before, static_cast<u16_t>(n), 0);
  if (n > 0) quiet_ticks_ = 0;
  if (const auto end = head_end(head_, before < 3 ? 0 : before - 3)) {
    const std::size_t length = *end;
    consume(length - before);
    head_.resize(length);
    auto parsed = parse_request_head(head_);
    if (auto* r = std::get_if<Refusal>(&parsed)) refuse(*r);
    else answer(std::get<RequestHead>(parsed));
    return true;
  }
  consume(n);
  if (head_.size() > kMaxHeadBytes) refuse({431, "Request Header Fields Too Large"});
  return n > 0;
}

void Connection::answer(const RequestHead& head) {
  if (++server_.counters_.requests == 1) server_.options().first_request();
  phase_ = Phase::Respond;
  keep_alive_ = head.keep_alive;
  http10_ = head.minor_version == 0;
  body_left_ = head.content_length;
  echo_ = false;
  stream_left_ = stream_at_ = 0;
  const bool get = head.method == Method::Get, head_only = head.method == Method::Head;
  if (head.method == Method::Other) {
    ++server_.counters_.refused;
    return respond(501, "Not Implemented", 0, "");
  }
  if (head.target == "/") {
    if (!get && !head_only) return respond(405, "Method Not Allowed", 0, "", "Allow: GET, HEAD\r\n");
    const std::string page = server_.options().status_page();
    return respond(200, "OK", page.size(), head_only ? std::string() : page, "Content-Type: text/plain\r\n");
  }
  if (head.target.rfind("/bytes/", 0) == 0) {
    if (!get && !head_only) return respond(405, "Method Not Allowed", 0, "", "Allow: GET, HEAD\r\n");
    const auto n = bytes_count(head.target);
    if (!n) {
      ++server_.counters_.refused;
      return respond(400, "Bad Request", 0, "");
    }
    stream_left_ = head_only ? 0 : *n;
    return respond(200, "OK", *n, "", "Content-Type: application/octet-stream\r\n");
  }
  if (head.target == "/echo") {
    if (head.method != Method::Post) return respond(405, "Method Not Allowed", 0, "", "Allow: POST\r\n");
    // RFC 9110 §10.1.1: a client that waits for 100 Continue sends the body only then; an
    // HTTP/1.0 client's expectation is ignored (it would take the 100 for the answer).
    if (head.expect_continue && !http10_) out_ = "HTTP/1.1 100 Continue\r\n\r\n";
    echo_ = true;
    return respond(200, "OK", head.content_length, "", "Content-Type: application/octet-stream\r\n");
  }
  respond(404, "Not Found", 0, "");
}

void Connection::respond(unsigned status, const char* reason, std::uint64_t length, const std::string& body,
                         const char* extra_fields) {
  if (status == 404 || status == 405) ++server_.counters_.not_found;
  char line[192];
  std::snprintf(line, sizeof line, "HTTP/1.1 %u %s\r\nServer: netfront-httpd\r\nContent-Length: %llu\r\n%s%s\r\n", status,
                reason, static_cast<unsigned long long>(length), extra_fields,
                // RFC 9112 §9.3: an HTTP/1.0 client keeps the connection only when told so.
                !keep_alive_ ? "Connection: close\r\n" : http10_ ? "Connection: keep-alive\r\n" : "");
  out_ += line;
  out_ += body;
}

void Connection::refuse(const Refusal& r) {
  if (!busy_ || r.status != 503) ++server_.counters_.refused;
  keep_alive_ = false;
  body_left_ = stream_left_ = 0;
  respond(r.status, r.reason, 0, "");
  phase_ = Phase::Close;
}

bool Connection::flush_out() {
  if (out_.empty()) return false;
  const std::size_t n = send(out_.data() + out_at_, out_.size() - out_at_, body_left_ > 0 || stream_left_ > 0);
  out_at_ += n;
  if (out_at_ == out_.size()) {
    out_.clear();
    out_at_ = 0;
  }
  return n > 0;
}

bool Connection::take_body() {
  bool progressed = false;
  while (body_left_ > 0 && inbox_) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(inbox_->len, body_left_));
    if (n > 0 && echo_) n = send(inbox_->payload, n, true);
    if (n == 0 && inbox_->len > 0) break;  // no room to echo it yet
    server_.counters_.body_bytes_in += n;
    body_left_ -= n;
    consume(n);
    progressed = true;
    quiet_ticks_ = 0;
  }
  return progressed;
}

bool Connection::stream() {
  bool progressed = false;
  while (stream_left_ > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(stream_left_, kMaxWrite));
    const std::size_t n = send(pattern().data() + stream_at_ % kPatternPeriod, want, stream_left_ > want);
    if (n == 0) break;
    stream_at_ += n;
    stream_left_ -= n;
    progressed = true;
  }
  return progressed;
}

std::size_t Connection::send(const void* data, std::size_t length, bool more) {
  const std::size_t n = std::min<std::size_t>({length, tcp_sndbuf(pcb_), kMaxWrite});
  if (n == 0) return 0;
  const u8_t flags = TCP_WRITE_FLAG_COPY | (more ? TCP_WRITE_FLAG_MORE : 0);
  // ERR_MEM: lwIP's send queue is full; the write is tried again when an ACK frees it.
  if (tcp_write(pcb_, data, static_cast<u16_t>(n), flags) != ERR_OK) return 0;
  server_.counters_.bytes_out += n;
  return n;
}

void Connection::finish_response() {
  head_.clear();
  head_ticks_ = 0;
  echo_ = false;
  phase_ = keep_alive_ ? Phase::Head : Phase::Close;
}

void Connection::consume(std::size_t n) {
  if (n == 0) return;
  inbox_ = pbuf_free_header(inbox_, static_cast<u16_t>(std::min<std::size_t>(n, 0xFFFF)));
  // The window opens for what was taken only: a peer cannot make the server hold more.
  for (std::size_t left = n; left > 0;) {
    const auto chunk = static_cast<u16_t>(std::min<std::size_t>(left, 0xFFFF));
    tcp_recved(pcb_, chunk);
    left -= chunk;
  }
  skip_empty();
}

void Connection::skip_empty() noexcept {
  // lwIP hands over pbufs of no bytes: a segment whose headers filled the first pbuf of a
  // reassembled datagram comes behind one (tcp_input hides the headers in it). Nothing is
  // ever taken from them, so they go here, where the inbox's first pbuf is looked at.
  while (inbox_ && inbox_->len == 0) {
    pbuf* empty = inbox_;
    inbox_ = empty->next;
    empty->next = nullptr;  // the rest's reference is the inbox's now (as pbuf_free_header does)
    pbuf_free(empty);
  }
}

err_t Connection::close() {
  // Bytes left unread would make tcp_close reset the connection instead of ending it.
  if (inbox_) consume(inbox_->tot_len);
  // So would a FIN lwIP has not told of yet: it took the FIN's place in the window, and gives
  // it back only once the callbacks for the segment that brought it (sent, then recv with its
  // data) have returned. The reset would drop the answer still queued. The FIN's own callback
  // comes next, in the same tcp_input, and closes then.
  if (pcb_->state == CLOSE_WAIT && !peer_closed_) {
    phase_ = Phase::Close;
    return ERR_OK;
  }
  tcp_arg(pcb_, nullptr);
  tcp_recv(pcb_, nullptr);
  tcp_sent(pcb_, nullptr);
  tcp_err(pcb_, nullptr);
  tcp_poll(pcb_, nullptr, 0);
  if (tcp_close(pcb_) != ERR_OK) {
    tcp_abort(pcb_);
    pcb_ = nullptr;
    end(false);
    return ERR_ABRT;
  }
  pcb_ = nullptr;
  end(false);
  return ERR_OK;
}

void Connection::abort() noexcept { end(true); }

void Connection::end(bool reset) noexcept {
  if (pcb_) {
    tcp_arg(pcb_, nullptr);
    tcp_err(pcb_, nullptr);
    if (reset) {
      ++server_.counters_.aborted;
      tcp_abort(pcb_);
    }
    pcb_ = nullptr;
  }
  if (inbox_) pbuf_free(inbox_);
  inbox_ = nullptr;
  server_.forget(this);  // deletes this
}

}  // namespace netfront::httpd
