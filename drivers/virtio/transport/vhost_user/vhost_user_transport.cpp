#include "drivers/virtio/transport/vhost_user/vhost_user_transport.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/vhost/frontend_net.hpp"
#include "drivers/virtio/transport/vhost_user/memory_table.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::vhost_user {
namespace {

template <typename T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span(&v, 1));
}

// What netfront asks for on top of the device features.
constexpr std::uint64_t kProtocolFeatures = feature_bit(VHOST_USER_PROTOCOL_F_MQ) |
                                            feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                                            feature_bit(VHOST_USER_PROTOCOL_F_STATUS);

}  // namespace

Result<std::unique_ptr<VhostUserTransport>> VhostUserTransport::open(const VhostUserAddress& address,
                                                                     EventLoop& loop,
                                                                     const VhostUserOptions& options) {
  std::unique_ptr<VhostUserTransport> t(new VhostUserTransport(address, loop, options));
  if (address.server) {
    // Server mode: our socket, the backend connects (and reconnects) to it.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.socket_path.c_str(), address.socket_path.size() + 1);
    ::unlink(address.socket_path.c_str());
    t->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (t->listen_fd_ < 0 || ::bind(t->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(t->listen_fd_, 1) != 0)
      return Fault(TransportError::System, "cannot listen on " + address.socket_path + ": " + std::strerror(errno));
    if (auto r = t->accept_backend(options.connect_timeout); !r) return std::move(r).error();
    t->last_backend_taken_ = Clock::now();
    auto watch = FdWatch::start(loop, t->listen_fd_, EPOLLIN, [p = t.get()](std::uint32_t) { p->on_listen_event(); });
    if (!watch) return Fault(std::move(watch).error()).with_context("vhost-user server " + address.socket_path);
    t->listen_watch_ = std::move(*watch);
  } else {
    auto ch = Channel::connect(address.socket_path, options.connect_timeout);
    if (!ch) return std::move(ch).error();
    t->channel_ = std::move(*ch);
    if (address.reconnect_ms > 0) t->reconnect_timer_ = std::make_unique<Timer>(loop, [p = t.get()] { p->try_reconnect(); });
  }
  t->channel_.set_timeout(options.reply_timeout);
  if (auto r = t->watch_channel(); !r) return std::move(r).error();
  return t;
}

VhostUserTransport::VhostUserTransport(const VhostUserAddress& address, EventLoop& loop,
                                       const VhostUserOptions& options)
    : address_(address), loop_(loop), options_(options) {}

VhostUserTransport::~VhostUserTransport() {
  stop_rings();
  reconnect_timer_.reset();
  resume_timer_.reset();
  channel_watch_.reset();
  listen_watch_.reset();
  channel_.close();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(address_.socket_path.c_str());
  }
  for (int fd : kick_fds_) ::close(fd);
  for (int fd : call_fds_) ::close(fd);
}

Result<> VhostUserTransport::accept_backend(std::chrono::milliseconds timeout) {
  pollfd p{listen_fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return Fault(TransportError::NoAnswer, "no vhost-user backend connected to " + address_.socket_path + " within " +
                          std::to_string(timeout.count()) + " ms");
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return Fault(TransportError::System, std::string("accept: ") + std::strerror(errno));
  channel_ = Channel(fd);
  channel_.set_timeout(options_.reply_timeout);
  return Ok{};
}

// Without the watch a backend that goes away is not seen to go: no channel is used unwatched.
Result<> VhostUserTransport::watch_channel() {
  channel_watch_.reset();
  if (!channel_.open()) return Ok{};
  auto watch = FdWatch::start(loop_, channel_.fd(), EPOLLIN | EPOLLRDHUP, [this](std::uint32_t) { on_channel_event(); });
  if (!watch) return Fault(std::move(watch).error()).with_context(describe());
  channel_watch_ = std::move(*watch);
  return Ok{};
}

// F1, F2: the backend went away, or it and we no longer agree on where the conversation is.
// The connection is closed either way (vhost-user.rst: a front-end that "receives a wrong
// reply ... will close the connection"); the link goes down, and in server mode a new backend
// may come. The rings are ours again unless a ring's stop was never confirmed (stop_rings).
void VhostUserTransport::lost_backend(std::string_view why, bool unanswered) {
  if (!channel_.open()) return;
  runtime::logger("vhost").warn("{}: backend lost ({})", describe(), why);
  if (unanswered && unanswered_ < kMaxBackoff) ++unanswered_;
  channel_watch_.reset();
  channel_.close();
  handshake_done_ = false;
  // What was negotiated was this connection's: the next one starts from nothing (REPLY_ACK
  // above all, which a backend answers only "with this protocol extension negotiated",
  // vhost-user.rst; asked of one that never agreed to it, the ack never comes).
  protocol_features_ = 0;
  mem_table_sent_ = false;
  ring_started_.assign(ring_started_.size(), false);
  ++generation_;
  if (may_take_backend()) arm_reconnect();
}

// Client mode: look for a backend again every reconnect_ms (a server waits for one instead).
void VhostUserTransport::arm_reconnect() {
  if (reconnect_timer_) reconnect_timer_->arm_periodic(backed_off(std::chrono::milliseconds(address_.reconnect_ms)));
}

std::chrono::milliseconds VhostUserTransport::backed_off(std::chrono::milliseconds period) const noexcept {
  return period * (1u << unanswered_);
}

// A new backend is worth connecting to, or taking, only if the device may be set up on it: not
// once a backend's ring stop went unconfirmed (it may still be working our rings, and a new
// connection would hand the same memory to a second one), nor once the driver gave up (FAILED:
// nothing will set it up; it would only be held open).
bool VhostUserTransport::may_take_backend() const noexcept { return !stop_unconfirmed_ && !given_up_; }

// Client mode, the backend gone: one try, without waiting (Channel::connect with no timeout
// never waits, not even on a listener that does not accept).
void VhostUserTransport::try_reconnect() {
  if (channel_.open() || !may_take_backend()) {
    reconnect_timer_->cancel();
    return;
  }
  auto ch = Channel::connect(address_.socket_path, std::chrono::milliseconds(0));
  if (!ch) return;  // not back yet: the next tick tries again
  reconnect_timer_->cancel();
  adopt_backend(std::move(*ch));
}

// A new backend connection (accepted, or reconnected to): F5-F8, everything is negotiated and
// set up again from scratch once the engine sees DEVICE_NEEDS_RESET.
void VhostUserTransport::adopt_backend(Channel channel) {
  channel_ = std::move(channel);
  channel_.set_timeout(options_.reply_timeout);
  if (auto r = watch_channel(); !r) {
    runtime::logger("vhost").warn("{}; the backend that connected is turned away", r.error().to_string());
    channel_.close();
    arm_reconnect();
    return;
  }
  needs_reset_ = true;
  ++generation_;
  runtime::logger("vhost").info("{}: backend connected again", describe());
}

// Nothing is asked of us on this socket (messages a backend starts have a channel of their
// own, which netfront does not negotiate) and replies are read as they are awaited, so a
// readable socket here is the end of the connection or bytes out of turn. Left unread, the
// latter would keep the loop awake and be taken for the next reply.
void VhostUserTransport::on_channel_event() {
  switch (channel_.unasked()) {
    case Channel::Unasked::Nothing: return;
    case Channel::Unasked::Closed: return lost_backend("connection closed");
    case Channel::Unasked::Bytes: return lost_backend("it sent bytes nobody asked for");
  }
}

void VhostUserTransport::on_listen_event() {
  // A backend that connects and goes again in a tight loop would have the device negotiated
  // and set up over and over, each time holding the loop for the exchanges: a new backend is
  // taken at most once per kBackendPace, the next one waiting in the listen queue meanwhile.
  if (!channel_.open() && Clock::now() - last_backend_taken_ < backed_off(kBackendPace)) return pause_listening();
  // The channel is used blocking, with poll-based timeouts (the listening socket is not).
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  // The backend that is going may not have been seen to go yet (both events in one round).
  if (channel_.open() && channel_.unasked() == Channel::Unasked::Closed) lost_backend("connection closed");
  if (channel_.open() || !may_take_backend()) {
    ::close(fd);  // one backend at a time, and none the device will not be set up on
    return;
  }
  last_backend_taken_ = Clock::now();
  adopt_backend(Channel(fd));
}

void VhostUserTransport::pause_listening() {
  listen_watch_.reset();
  if (!resume_timer_) resume_timer_ = std::make_unique<Timer>(loop_, [this] { resume_listening(); });
  resume_timer_->arm_at(last_backend_taken_ + backed_off(kBackendPace));
}

void VhostUserTransport::resume_listening() {
  auto watch = FdWatch::start(loop_, listen_fd_, EPOLLIN, [this](std::uint32_t) { on_listen_event(); });
  if (!watch) {
    runtime::logger("vhost").warn("{}: no backend can connect again: {}", describe(), watch.error().to_string());
    return;
  }
  listen_watch_ = std::move(*watch);
}

// Every exchange with the backend goes through request() or call(): whatever goes wrong (a
// failed send; a reply that is late, malformed, for another request or of another size; a
// NACK) closes the connection before the error is returned, so no later reply can be read out
// of step.
Result<> VhostUserTransport::request(Request r, std::span<const std::byte> payload, std::span<const int> fds) {
  const bool ack = protocol_features_ & feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK);
  Result<> done = channel_.send(r, payload, fds, ack);
  if (done && ack) {
    std::uint64_t status = 0;
    done = channel_.receive_reply(r, std::as_writable_bytes(std::span(&status, 1)));
    if (done && status != 0) done = Fault(TransportError::Refused, "backend refused " + std::string(request_name(r)));  // F2: NACK
  }
  if (!done) lost_backend(done.error().message(), done.error().is(TransportError::NoAnswer));
  return done;
}

Result<> VhostUserTransport::call(Request r, std::span<const std::byte> payload, std::span<std::byte> reply) {
  Result<> done = channel_.call(r, payload, reply);
  if (!done) lost_backend(done.error().message(), done.error().is(TransportError::NoAnswer));
  return done;
}

Result<std::uint64_t> VhostUserTransport::get_u64(Request r) {
  std::uint64_t v = 0;
  if (auto rep = call(r, {}, std::as_writable_bytes(std::span(&v, 1))); !rep) return std::move(rep).error();
  return v;
}

Result<> VhostUserTransport::handshake() {
  // protocol_features_ is 0 here (a first connection, or lost_backend's reset): SET_OWNER asks
  // for no ack.
  if (auto r = request(VHOST_USER_SET_OWNER, {}); !r) return r;
  auto features = get_u64(VHOST_USER_GET_FEATURES);
  if (!features) return std::move(features).error();
  backend_features_ = *features;
  queue_pairs_ = 1;
  if (has_feature(backend_features_, VHOST_USER_F_PROTOCOL_FEATURES)) {
    auto offered = get_u64(VHOST_USER_GET_PROTOCOL_FEATURES);
    if (!offered) return std::move(offered).error();
    const std::uint64_t chosen = *offered & kProtocolFeatures;
    if (auto r = request(VHOST_USER_SET_PROTOCOL_FEATURES, bytes_of(chosen)); !r) return r;
    protocol_features_ = chosen;
    if (chosen & feature_bit(VHOST_USER_PROTOCOL_F_MQ)) {
      auto n = get_u64(VHOST_USER_GET_QUEUE_NUM);
      if (!n) return std::move(n).error();
      // F9: the backend's count of queue pairs, within what the spec allows.
      queue_pairs_ = static_cast<unsigned>(std::clamp<std::uint64_t>(*n, 1, 0x8000));
      runtime::logger("vhost").debug("{}: backend has {} queue pair(s)", describe(), *n);
    }
  }
  handshake_done_ = true;
  return Ok{};
}

void VhostUserTransport::stop_rings() {
  // E5: GET_VRING_BASE stops a ring; only then may its memory be reused or freed. A backend
  // that ends the connection instead has let go of the memory table with it. One that answers
  // late, wrongly or for another ring may still be working the ring: its memory stays its own
  // (revoke_dma() says so, and the engine never reuses it).
  for (std::size_t i = 0; i < ring_started_.size() && channel_.open(); ++i) {
    if (!ring_started_[i]) continue;
    ring_started_[i] = false;
    VringState state{static_cast<std::uint32_t>(i), 0};
    Result<> r = channel_.call(VHOST_USER_GET_VRING_BASE, bytes_of(state), std::as_writable_bytes(std::span(&state, 1)));
    if (r && state.index != i) r = Fault(TransportError::ProtocolViolation, "GET_VRING_BASE reply names ring " + std::to_string(state.index) +
                                                  ", not " + std::to_string(i));
    if (!r) {
      if (!r.error().is_disconnected()) stop_unconfirmed_ = true;
      lost_backend(r.error().message());
    }
  }
}

Result<> VhostUserTransport::reset() {
  stop_rings();
  if (stop_unconfirmed_) return Fault(TransportError::NoAnswer, "the backend did not confirm that it stopped its rings");
  control_.reset();
  status_ = 0;
  features_accepted_ = false;
  mem_table_sent_ = false;
  needs_reset_ = false;
  if (!channel_.open()) return Fault(TransportError::BackendClosed, "vhost-user backend at " + address_.socket_path + " is gone");
  if (!handshake_done_) {
    if (auto r = handshake(); !r) {
      lost_backend("handshake failed");
      return r;
    }
  }
  if (protocol_features_ & feature_bit(VHOST_USER_PROTOCOL_F_STATUS))
    if (auto r = request(VHOST_USER_SET_STATUS, bytes_of(std::uint64_t{0})); !r) return r;
  return Ok{};
}

// The backend's use of our memory rests on the connection (the memory table and the rings
// are per connection, vhost-user.rst "Ring states"): once it is closed, the rings are ours
// again, unless the backend never confirmed it stopped one (stop_rings): it may be working
// it still, so nothing it was given may be reused.
bool VhostUserTransport::revoke_dma() noexcept {
  lost_backend("reset not confirmed");
  return !stop_unconfirmed_;
}

std::uint8_t VhostUserTransport::status() {
  return static_cast<std::uint8_t>(status_ | (needs_reset_ ? VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET : 0));
}

// Nothing is dialled or accepted after this; the connection goes (the rings were stopped by
// the reset before it).
void VhostUserTransport::close() noexcept {
  given_up_ = true;
  if (reconnect_timer_) reconnect_timer_->cancel();
  if (resume_timer_) resume_timer_->cancel();
  listen_watch_.reset();
  channel_watch_.reset();
  channel_.close();
}

void VhostUserTransport::set_status(std::uint8_t status) {
  // §2.1.2: with FAILED the driver "has given up on the device": a backend that goes is not
  // dialled or accepted again (may_take_backend) until the driver starts over (§3.1.1 step 2).
  if (status & VIRTIO_CONFIG_S_FAILED) {
    given_up_ = true;
    if (reconnect_timer_) reconnect_timer_->cancel();
  } else if (status & VIRTIO_CONFIG_S_ACKNOWLEDGE) {
    given_up_ = false;
  }
  // FEATURES_OK only sticks if the backend took SET_FEATURES (§3.1.1 step 6 re-reads it).
  if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !features_accepted_) status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
  // A backend that refuses the status (or fails to answer) is gone (request closed the
  // connection) and the status stays as it was: FEATURES_OK then does not stick (A1).
  if (channel_.open() && (protocol_features_ & feature_bit(VHOST_USER_PROTOCOL_F_STATUS)))
    if (!request(VHOST_USER_SET_STATUS, bytes_of(std::uint64_t{status}))) return;
  status_ = status;
  if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && channel_.open()) unanswered_ = 0;  // this backend answered
}

std::uint64_t VhostUserTransport::device_features() {
  const std::uint64_t f = backend_features_ & ~(feature_bit(VHOST_USER_F_PROTOCOL_FEATURES) | feature_bit(VHOST_F_LOG_ALL));
  return vhost::frontend_net_features(f, queue_pairs_);
}

void VhostUserTransport::set_driver_features(std::uint64_t features) {
  driver_features_ = features;
  // STATUS and MQ of the synthesized config space are ours, not the backend's, and so is the
  // control queue.
  std::uint64_t to_backend = features & backend_features_ & ~feature_bit(net::VIRTIO_NET_F_CTRL_VQ);
  if (has_feature(backend_features_, VHOST_USER_F_PROTOCOL_FEATURES)) to_backend |= feature_bit(VHOST_USER_F_PROTOCOL_FEATURES);
  features_accepted_ = channel_.open() && request(VHOST_USER_SET_FEATURES, bytes_of(to_backend)).ok();
}

std::size_t VhostUserTransport::config_size() const { return net::kConfigSize; }

void VhostUserTransport::read_config(std::size_t offset, std::span<std::byte> out) {
  vhost::read_frontend_config(offset, out, channel_.open(), queue_pairs_);
}

std::uint32_t VhostUserTransport::control_index() const noexcept {
  return net::control_queue_index(driver_features_, queue_pairs_);
}

Result<> VhostUserTransport::enable_queue(const transport::QueueSetup& s) {
  if (has_feature(driver_features_, net::VIRTIO_NET_F_CTRL_VQ) && s.index == control_index()) {
    // Our own memory, read by ourselves: nothing goes to the backend.
    control_ = std::make_unique<vhost::FrontendControlQueue>(
        driver_features_, s, queue_pairs_, ring_started_,
        [this](std::uint16_t ring, bool enable) { return enable_ring(ring, enable).ok(); });
    return Ok{};
  }
  if (!channel_.open()) return Fault(TransportError::BackendClosed, "vhost-user backend is gone");
  if (s.index >= control_index())  // the data queues come before the control queue (§5.1.2)
    return Fault(TransportError::BadRequest, "queue " + std::to_string(s.index) + " does not exist");
  if (!mem_table_sent_) {
    // Sent once the rings and pools exist, so it covers all of them.
    auto mem = collect_memory();
    if (!mem) return std::move(mem).error();
    const std::size_t len = offsetof(MemoryTable, regions) + sizeof(MemoryRegion) * mem->table.num_regions;
    if (auto r = request(VHOST_USER_SET_MEM_TABLE, std::as_bytes(std::span(&mem->table, 1)).first(len), mem->fds); !r)
      return r;
    mem_table_sent_ = true;
  }
  if (kick_fds_.size() < queue_count()) {
    kick_fds_.resize(queue_count(), -1);
    call_fds_.resize(queue_count(), -1);
    ring_started_.resize(queue_count(), false);
  }
  // A new kick eventfd at every set-up of a ring: a backend of an earlier connection that still
  // lives keeps its copy of the old one, and reading it would swallow the doorbells meant for
  // the backend that has the ring now. (The pairs are held still meanwhile, so no doorbell
  // rings on the one closed here.) The call eventfd stays: loops sleep on it (interrupt
  // watches), and all an old backend can do with it is wake us for nothing.
  const int kick = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (kick < 0) return Fault(TransportError::System, std::string("eventfd: ") + std::strerror(errno));
  if (kick_fds_[s.index] >= 0) ::close(kick_fds_[s.index]);
  kick_fds_[s.index] = kick;
  if (call_fds_[s.index] < 0) call_fds_[s.index] = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (call_fds_[s.index] < 0) return Fault(TransportError::System, std::string("eventfd: ") + std::strerror(errno));
  const bool packed = has_feature(driver_features_, VIRTIO_F_RING_PACKED);
  const VringState num{s.index, s.size}, base{s.index, vhost::initial_vring_base(packed)};
  const VringAddress addr{s.index, 0, s.addresses.desc, s.addresses.device, s.addresses.driver, 0};
  const std::uint64_t ring = s.index;
  Result<> r = request(VHOST_USER_SET_VRING_NUM, bytes_of(num));
  if (r) r = request(VHOST_USER_SET_VRING_BASE, bytes_of(base));
  if (r) r = request(VHOST_USER_SET_VRING_ADDR, bytes_of(addr));
  if (r) r = request(VHOST_USER_SET_VRING_CALL, bytes_of(ring), std::span(&call_fds_[s.index], 1));
  if (r) r = request(VHOST_USER_SET_VRING_KICK, bytes_of(ring), std::span(&kick_fds_[s.index], 1));
  // Rings beyond the first pair wait, disabled, for VQ_PAIRS_SET (§5.1.6.5.5).
  if (r && s.index < 2) r = enable_ring(s.index, true);
  if (!r) return r.error().with_context(describe() + ": setting up ring " + std::to_string(s.index));  // a device gone stays Disconnected
  ring_started_[s.index] = true;
  return Ok{};
}

// Without PROTOCOL_FEATURES a backend enables every ring it is given (vhost-user.rst "Ring
// states"), and there is nothing to send.
Result<> VhostUserTransport::enable_ring(std::uint16_t index, bool enable) {
  if (!has_feature(backend_features_, VHOST_USER_F_PROTOCOL_FEATURES)) return Ok{};
  return request(VHOST_USER_SET_VRING_ENABLE, bytes_of(VringState{index, enable ? 1u : 0u}));
}

bool VhostUserTransport::notify(std::uint16_t index) noexcept {
  if (control_ && index == control_index()) {
    return control_->serve();
  }
  if (index >= kick_fds_.size() || kick_fds_[index] < 0) return false;
  const std::uint64_t one = 1;
  const ssize_t n = ::write(kick_fds_[index], &one, sizeof one);
  return n == sizeof one || errno == EAGAIN;  // a counter at its maximum still wakes the backend
}

}  // namespace netfront::virtio::transport::vhost_user
