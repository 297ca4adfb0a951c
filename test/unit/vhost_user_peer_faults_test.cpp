// A vhost-user backend that misbehaves on purpose (checklist F1-F4), scripted in a thread of
// the test: it never answers, answers the wrong request, with the wrong size or flags, attaches
// file descriptors nobody asked for, NACKs, or hangs up mid-handshake. netfront must fail the
// connect with an error that says what happened, close what it was sent, and leak nothing.
// The same backend restarted, flapping, or coming back as another (VhostUserReconnectTest):
// a client tries it again once per period, starting over from nothing, and not at all once the
// device may not be set up on a new backend.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/transport/vhost_user/fd_passing.hpp"
#include "drivers/virtio/transport/vhost_user/vhost_user_transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/loop_thread.hpp"
#include "netfront/netif.hpp"
#include "open_fds.hpp"

namespace netfront {
namespace {

using namespace virtio::transport::vhost_user;
using virtio::transport::TransportError;
using namespace std::chrono_literals;

using testing::open_fds;

struct Msg {
  MessageHeader header{};
  std::vector<std::byte> payload;
};

// A scripted backend: one connection's worth, or as many as the script restarts it for.
class FakeBackend {
 public:
  using Script = std::function<void(FakeBackend&)>;

  // Client mode: connects (and, as often as the script does, reconnects) to a frontend that
  // listens on `path`.
  FakeBackend(std::string path, Script script) : path_(std::move(path)), client_(true) {
    thread_ = std::thread([this, script] {
      if (reconnect()) script(*this);
    });
  }
  bool reconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    for (int i = 0; i < 500 && fd_ < 0; ++i) {
      const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strcpy(a.sun_path, path_.c_str());
      if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        fd_ = s;
        new_connection();
        break;
      }
      ::close(s);
      std::this_thread::sleep_for(10ms);
    }
    return fd_ >= 0;
  }

  explicit FakeBackend(Script script) : path_("/tmp/netfront-fake-" + std::to_string(::getpid()) + ".sock") {
    listen_again();
    thread_ = std::thread([this, script] {
      fd_ = ::accept(listen_, nullptr, nullptr);
      if (fd_ >= 0) {
        new_connection();
        script(*this);
      }
    });
  }
  ~FakeBackend() {
    if (const int l = listen_; l >= 0) ::shutdown(l, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    if (listen_ >= 0) ::close(listen_);
    if (!client_) ::unlink(path_.c_str());
    for (auto [ring, fd] : kicks_)
      if (fd >= 0) ::close(fd);
  }
  const std::string& path() const { return path_; }

  // Server mode, a backend process that ends and starts again. go_away: its connection and
  // listening socket closed, its socket file gone (a frontend's connect is refused: ENOENT).
  // listen_again: a new one on the same path, with `backlog` as listen(2) takes it (0: one
  // connection waits, a second finds it full). accept_within: its next connection, or false if
  // none came within `wait`. restart: all three.
  void go_away() {
    hang_up();
    if (const int l = listen_.exchange(-1); l >= 0) ::close(l);
    ::unlink(path_.c_str());
  }
  void listen_again(int backlog = 1) {
    ::unlink(path_.c_str());
    const int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(l, backlog), 0);
    listen_ = l;
  }
  bool accept_within(std::chrono::milliseconds wait) {
    hang_up();
    pollfd p{listen_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0 || !(p.revents & POLLIN)) return false;
    fd_ = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd_ < 0) return false;
    new_connection();
    return true;
  }
  bool restart(std::chrono::milliseconds down, std::chrono::milliseconds wait = 5000ms) {
    go_away();
    std::this_thread::sleep_for(down);
    listen_again();
    return accept_within(wait);
  }

  // Reads one request; false when the frontend hung up.
  bool read(Msg& m) {
    // The fds come with the message's first byte: the header is read with room for them (a
    // plain recv would have the kernel drop them).
    char control[256];
    iovec iov{&m.header, sizeof m.header};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd_, &msg, MSG_WAITALL) != sizeof m.header) return false;
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))  // fds we were given
      for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    m.payload.resize(m.header.size);
    const bool whole = m.header.size == 0 || ::recv(fd_, m.payload.data(), m.payload.size(), MSG_WAITALL) == static_cast<ssize_t>(m.header.size);
    std::uint64_t ring = 0;
    if (m.payload.size() >= 8) std::memcpy(&ring, m.payload.data(), 8);
    const bool keep = whole && keep_kicks && m.header.request == VHOST_USER_SET_VRING_KICK && !kicks_.contains(ring & 0xff);
    for (int fd : fds) {
      if (keep && !kicks_.contains(ring & 0xff))
        kicks_[ring & 0xff] = fd;
      else
        ::close(fd);
    }
    return whole;
  }
  // With keep_kicks: the kick eventfd this connection was given for `ring` (the caller's to
  // close), or -1.
  int take_kick(std::uint64_t ring) { return kicks_.contains(ring) ? std::exchange(kicks_[ring], -1) : -1; }
  bool keep_kicks = false;
  void reply(std::uint32_t request, std::uint32_t flags, const void* payload, std::uint32_t size, int attach_fd = -1) {
    MessageHeader h{request, flags, size};
    const iovec iov[2] = {{&h, sizeof h}, {const_cast<void*>(payload), size}};
    (void)send_with_fds(fd_, std::span(iov, size ? 2 : 1), std::span(&attach_fd, attach_fd >= 0 ? 1 : 0));
  }
  void reply_u64(std::uint32_t request, std::uint64_t v, std::uint32_t flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) {
    reply(request, flags, &v, sizeof v);
  }
  // Two replies in one write: the second is in the socket by the time the first has been read.
  void reply_two_u64(std::uint32_t r1, std::uint64_t v1, std::uint32_t r2, std::uint64_t v2) {
    const std::uint32_t flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
    MessageHeader h1{r1, flags, sizeof v1}, h2{r2, flags, sizeof v2};
    iovec iov[4] = {{&h1, sizeof h1}, {&v1, sizeof v1}, {&h2, sizeof h2}, {&v2, sizeof v2}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 4;
    ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  }
  // Answers well until `request` arrives, then hands over to `then`.
  void behave_until(std::uint32_t request, const std::function<void(const Msg&)>& then) {
    Msg m;
    while (read(m)) {
      if (m.header.request == request) return then(m);
      if (m.header.request == VHOST_USER_GET_FEATURES)
        reply_u64(m.header.request, virtio::feature_bit(virtio::VIRTIO_F_VERSION_1));
    }
  }
  void hang_up() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // A backend that does its part (answers what wants an answer, takes the rest), with the
  // deviations `how` asks for; until the frontend hangs up, or `until` returns true after a
  // message. Returns false if the frontend hung up.
  struct Behaviour {
    std::uint64_t features = 0;                 // offered beside VERSION_1
    std::uint64_t protocol_features = 0;        // offered with VHOST_USER_F_PROTOCOL_FEATURES if non-zero
    std::uint64_t queue_pairs = 1;              // GET_QUEUE_NUM
    std::uint32_t nack = 0;                     // REPLY_ACK: refuse this request
    std::uint32_t ack_with_request = 0;         // REPLY_ACK of SET_FEATURES names this request instead
    bool ignore_get_vring_base = false;         // never answer it (a backend still working its rings)
    std::chrono::milliseconds stall_at_mem_table{0};  // stop reading this long once the memory table came
    bool answer_ahead = false;                  // with GET_FEATURES' reply, GET_PROTOCOL_FEATURES' before it is asked
  };
  bool serve(const Behaviour& how, const std::function<bool(const Msg&)>& until = {}) {
    Msg m;
    while (read(m)) {
      const std::uint32_t r = m.header.request;
      switch (r) {
        case VHOST_USER_GET_FEATURES: {
          const std::uint64_t features = virtio::feature_bit(virtio::VIRTIO_F_VERSION_1) | how.features |
                                         (how.protocol_features ? virtio::feature_bit(VHOST_USER_F_PROTOCOL_FEATURES) : 0);
          if (how.answer_ahead)
            reply_two_u64(r, features, VHOST_USER_GET_PROTOCOL_FEATURES, how.protocol_features);
          else
            reply_u64(r, features);
          break;
        }
        case VHOST_USER_SET_MEM_TABLE:
          std::this_thread::sleep_for(how.stall_at_mem_table);
          break;
        case VHOST_USER_GET_PROTOCOL_FEATURES: reply_u64(r, how.protocol_features); break;
        case VHOST_USER_SET_PROTOCOL_FEATURES:
          if (m.payload.size() == 8) std::memcpy(&negotiated_, m.payload.data(), 8);
          break;
        case VHOST_USER_GET_QUEUE_NUM: reply_u64(r, how.queue_pairs); break;
        case VHOST_USER_GET_VRING_BASE:
          if (!how.ignore_get_vring_base) reply(r, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, m.payload.data(), 8);
          break;
        case VHOST_USER_SET_VRING_ADDR: {
          std::uint32_t index;
          std::memcpy(&index, m.payload.data(), 4);
          rings.push_back(index);
          break;
        }
        default: break;
      }
      requests.push_back(r);
      // vhost-user.rst: need_reply means something only "with this protocol extension
      // negotiated", on this connection; a backend that never agreed to it does not answer.
      if ((m.header.flags & VHOST_USER_NEED_REPLY_MASK) && !(negotiated_ & virtio::feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK)))
        ++acks_unagreed;
      else if (m.header.flags & VHOST_USER_NEED_REPLY_MASK)
        reply_u64(r == VHOST_USER_SET_FEATURES && how.ack_with_request ? how.ack_with_request : r, r == how.nack ? 1 : 0);
      if (until && until(m)) return true;
    }
    return false;
  }
  // Requests the frontend still sends until it hangs up; -1 if it keeps the connection open
  // for `wait` without a word.
  int count_until_hang_up(std::chrono::milliseconds wait = 1000ms) {
    int n = 0;
    for (Msg m;; ++n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return -1;
      if (!read(m)) return n;
    }
  }
  void join() { thread_.join(); }
  void send_raw(const void* bytes, std::size_t n) { (void)!::send(fd_, bytes, n, MSG_NOSIGNAL); }
  std::vector<std::uint32_t> rings;     // SET_VRING_ADDR ring indices, in order
  std::vector<std::uint32_t> requests;  // what serve() was sent on this connection, in order
  std::atomic<int> connections{0};      // made or taken so far
  std::atomic<int> acks_unagreed{0};    // requests that asked for a REPLY_ACK not negotiated on their connection

 private:
  void new_connection() {
    ++connections;
    for (auto [ring, fd] : kicks_)
      if (fd >= 0) ::close(fd);
    kicks_.clear();
    negotiated_ = 0;
    rings.clear();
    requests.clear();
  }
  std::string path_;
  bool client_ = false;
  std::atomic<int> listen_{-1};  // the destructor shuts it while the script may be restarting it
  int fd_ = -1;
  std::uint64_t negotiated_ = 0;  // SET_PROTOCOL_FEATURES on this connection
  std::map<std::uint64_t, int> kicks_;  // keep_kicks: this connection's kick eventfds by ring
  std::thread thread_;
};

// Connects with short timeouts; returns the error connect ended with.
virtio::Fault connect_error(const FakeBackend& backend) {
  EventLoop loop;
  auto t = VhostUserTransport::open({backend.path(), false, 0, {}}, loop, {.connect_timeout = 2000ms, .reply_timeout = 300ms});
  if (!t) return t.error();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t));
  EXPECT_FALSE(dev) << "a misbehaving backend was accepted";
  if (dev) return virtio::Fault(virtio::net::DeviceError::BadArgument, "accepted");
  return dev.error();
}

TEST(VhostUserPeerFaultTest, BackendThatNeverAnswersTimesOut) {  // F3
  const unsigned fds = open_fds();
  {
    FakeBackend b([](FakeBackend& f) { f.behave_until(VHOST_USER_GET_FEATURES, [](const Msg&) {}); std::this_thread::sleep_for(1s); });
    const virtio::Fault e = connect_error(b);
    EXPECT_NE(e.message().find("did not answer"), std::string::npos) << e.to_string();
    EXPECT_TRUE(e.is(TransportError::NoAnswer)) << e.to_string();
  }
  EXPECT_EQ(open_fds(), fds);
}

TEST(VhostUserPeerFaultTest, ReplyToAnotherRequestIsRefused) {  // F2
  FakeBackend b([](FakeBackend& f) {
    f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg&) { f.reply_u64(VHOST_USER_GET_QUEUE_NUM, 1); });
  });
  const virtio::Fault e = connect_error(b);
  EXPECT_NE(e.message().find("GET_FEATURES reply answers request 17"), std::string::npos) << e.to_string();
  EXPECT_TRUE(e.is(TransportError::ProtocolViolation)) << e.to_string();
}

TEST(VhostUserPeerFaultTest, ReplyWithWrongSizeIsRefused) {  // F2
  FakeBackend b([](FakeBackend& f) {
    f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg& m) {
      const std::uint32_t four = 1;
      f.reply(m.header.request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, &four, sizeof four);
    });
  });
  const virtio::Fault e = connect_error(b);
  EXPECT_NE(e.message().find("4 payload bytes, expected 8"), std::string::npos) << e.to_string();
  EXPECT_TRUE(e.is(TransportError::ProtocolViolation)) << e.to_string();
}

TEST(VhostUserPeerFaultTest, ReplyWithoutReplyFlagOrWrongVersionIsRefused) {  // F2
  // No reply bit; version 2; need_reply set in a reply; a reserved bit set.
  for (std::uint32_t flags : {VHOST_USER_VERSION, 0x2u | VHOST_USER_REPLY_MASK,
                              VHOST_USER_VERSION | VHOST_USER_REPLY_MASK | VHOST_USER_NEED_REPLY_MASK,
                              VHOST_USER_VERSION | VHOST_USER_REPLY_MASK | 0x100u}) {
    FakeBackend b([flags](FakeBackend& f) {
      f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg& m) { f.reply_u64(m.header.request, 1, flags); });
    });
    const virtio::Fault e = connect_error(b);
    EXPECT_NE(e.message().find("bad flags"), std::string::npos) << e.to_string();
    EXPECT_TRUE(e.is(TransportError::ProtocolViolation)) << e.to_string();
  }
}

TEST(VhostUserPeerFaultTest, UnexpectedFileDescriptorsAreClosed) {  // F4
  const int extra = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(extra, 0);
  const unsigned fds = open_fds();
  {
    FakeBackend b([extra](FakeBackend& f) {
      f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg& m) {
        const std::uint64_t features = 0;  // and no VERSION_1 either: the connect fails after this
        f.reply(m.header.request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, &features, sizeof features, extra);
      });
      std::this_thread::sleep_for(200ms);
    });
    const virtio::Fault e = connect_error(b);
    EXPECT_NE(e.message().find("VERSION_1"), std::string::npos) << e.to_string();
    EXPECT_TRUE(e.is(virtio::net::DeviceError::Refused)) << e.to_string();
  }
  ::close(extra);
  EXPECT_EQ(open_fds(), fds - 1) << "the fd the backend sent was not closed";
}

TEST(VhostUserPeerFaultTest, BackendHangingUpMidHandshakeIsAnError) {  // F1
  FakeBackend b([](FakeBackend& f) { f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg&) { f.hang_up(); }); });
  const virtio::Fault e = connect_error(b);
  EXPECT_TRUE(e.is_disconnected() || e.message().find("closed") != std::string::npos) << e.to_string();
}

TEST(VhostUserPeerFaultTest, NackWithReplyAckFailsTheStep) {  // F2: REPLY_ACK with a non-zero status
  FakeBackend b([](FakeBackend& f) {
    Msg m;
    while (f.read(m)) {
      switch (m.header.request) {
        case VHOST_USER_GET_FEATURES:
          f.reply_u64(m.header.request, virtio::feature_bit(virtio::VIRTIO_F_VERSION_1) |
                                            virtio::feature_bit(VHOST_USER_F_PROTOCOL_FEATURES));
          break;
        case VHOST_USER_GET_PROTOCOL_FEATURES:
          f.reply_u64(m.header.request, virtio::feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK));
          break;
        default:
          if (m.header.flags & VHOST_USER_NEED_REPLY_MASK)  // everything acknowledged but the memory table
            f.reply_u64(m.header.request, m.header.request == VHOST_USER_SET_MEM_TABLE ? 1 : 0);
      }
    }
  });
  const virtio::Fault e = connect_error(b);
  EXPECT_NE(e.message().find("refused SET_MEM_TABLE"), std::string::npos) << e.to_string();
  EXPECT_TRUE(e.is(TransportError::Refused)) << e.to_string();
}

using virtio::feature_bit;
constexpr std::uint8_t kFeaturesOk = virtio::VIRTIO_CONFIG_S_ACKNOWLEDGE | virtio::VIRTIO_CONFIG_S_DRIVER |
                                     virtio::VIRTIO_CONFIG_S_FEATURES_OK;
constexpr VhostUserOptions kShortTimeouts{.connect_timeout = 2000ms, .reply_timeout = 300ms};

// F2: a reply naming another request than the one asked (here the REPLY_ACK of SET_FEATURES)
// means the two sides are out of step: the connection is closed at once, so no later reply is
// read against the wrong request, and the features do not stick.
TEST(VhostUserPeerFaultTest, ReplyOutOfStepClosesTheConnection) {  // F2
  std::atomic<int> after{-2};
  FakeBackend b([&](FakeBackend& f) {
    f.serve({.protocol_features = feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK), .ack_with_request = VHOST_USER_GET_FEATURES},
            [](const Msg& m) { return m.header.request == VHOST_USER_SET_FEATURES; });
    after = f.count_until_hang_up();
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  ASSERT_TRUE((*t)->reset());  // the handshake
  (*t)->set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1));
  EXPECT_FALSE((*t)->connected());
  (*t)->set_status(kFeaturesOk);
  EXPECT_FALSE((*t)->status() & virtio::VIRTIO_CONFIG_S_FEATURES_OK);
  b.join();
  EXPECT_EQ(after, 0) << "the connection stayed open (-1) or more was sent";
}

// A backend only speaks when spoken to on this socket: bytes out of turn close the connection
// (left unread, they would keep the loop from sleeping and be read as the next reply).
TEST(VhostUserPeerFaultTest, UnsolicitedBytesCloseTheConnection) {  // F2
  std::atomic<bool> sent{false};
  std::atomic<int> after{-2};
  FakeBackend b([&](FakeBackend& f) {
    f.serve({}, [](const Msg& m) { return m.header.request == VHOST_USER_GET_FEATURES; });
    const char junk[5] = {1, 2, 3, 4, 5};
    f.send_raw(junk, sizeof junk);
    sent = true;
    after = f.count_until_hang_up();
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  ASSERT_TRUE((*t)->reset());
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while ((!sent || (*t)->connected()) && std::chrono::steady_clock::now() < deadline) loop.run_once();
  EXPECT_FALSE((*t)->connected());
  b.join();
  EXPECT_EQ(after, 0);
}

// A NACK of SET_STATUS is the backend refusing the device state: the step fails and the
// connection is closed, not carried on as if the status had been taken.
TEST(VhostUserPeerFaultTest, RefusedSetStatusFailsAndClosesTheConnection) {  // F2
  std::atomic<int> after{-2};
  FakeBackend b([&](FakeBackend& f) {
    f.serve({.protocol_features = feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK) | feature_bit(VHOST_USER_PROTOCOL_F_STATUS),
             .nack = VHOST_USER_SET_STATUS},
            [](const Msg& m) { return m.header.request == VHOST_USER_SET_STATUS; });
    after = f.count_until_hang_up();
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  virtio::Result<> r = (*t)->reset();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("refused SET_STATUS"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE((*t)->connected());
  b.join();
  EXPECT_EQ(after, 0);
}

// F3: a backend that stops reading is as late as one that does not answer. With many queues and
// no REPLY_ACK nothing is answered while the rings are set up, so it is the sends that stop:
// each may wait no longer than the reply timeout, then the connection is closed.
TEST(VhostUserPeerFaultTest, BackendThatStopsReadingIsLateLikeOneThatDoesNotAnswer) {  // F3
  FakeBackend b([](FakeBackend& f) {
    f.serve({.protocol_features = feature_bit(VHOST_USER_PROTOCOL_F_MQ), .queue_pairs = 32,
             .stall_at_mem_table = 1500ms});
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  const auto start = std::chrono::steady_clock::now();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t), {.queue_pairs = 32});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(dev) << "the backend never read the ring set-up, yet bring-up succeeded";
  EXPECT_NE(dev.error().message().find("did not take"), std::string::npos) << dev.error().to_string();
  EXPECT_LT(took, 1000ms) << "a send waited past the 300 ms timeout";
}

// F2: bytes that arrive before their request is sent (here GET_PROTOCOL_FEATURES' reply, sent
// along with GET_FEATURES') were sent unasked: the connection is closed rather than taking them
// for the next reply.
TEST(VhostUserPeerFaultTest, ReplySentBeforeItsRequestClosesTheConnection) {  // F2
  FakeBackend b([](FakeBackend& f) {
    f.serve({.protocol_features = feature_bit(VHOST_USER_PROTOCOL_F_MQ), .answer_ahead = true});
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  virtio::Result<> r = (*t)->reset();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("nobody asked for"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE((*t)->connected());
}

// F5, F9: a backend that comes back (server mode) with more queue pairs moves the control
// queue (§5.1.2: it follows the last pair). The engine follows it there; none of our rings is
// handed to the new backend under an index it takes for something else.
TEST(VhostUserPeerFaultTest, BackendBackWithMoreQueuePairsNeverGetsOurControlRing) {  // F5
  const std::string path = "/tmp/netfront-fake-server-" + std::to_string(::getpid()) + ".sock";
  const std::uint64_t mq = feature_bit(VHOST_USER_PROTOCOL_F_MQ);
  auto brought_up = [](const Msg& m) {
    std::uint32_t ring = 0;
    if (m.payload.size() >= 4) std::memcpy(&ring, m.payload.data(), 4);
    return m.header.request == VHOST_USER_SET_VRING_ENABLE && ring == 1;
  };
  std::atomic<bool> first{false}, second{false};
  std::vector<std::uint32_t> first_rings, second_rings;
  FakeBackend b(path, [&](FakeBackend& f) {
    if (!f.serve({.protocol_features = mq, .queue_pairs = 2}, brought_up)) return;
    first_rings = f.rings;
    f.rings.clear();
    first = true;
    if (!f.reconnect()) return;
    // Every ring set up on this connection, until the frontend is done with it.
    f.serve({.protocol_features = mq, .queue_pairs = 4}, [&](const Msg& m) {
      if (brought_up(m)) second = true;
      return false;
    });
    second_rings = f.rings;
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({path, true, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t));
  ASSERT_TRUE(dev) << dev.error().to_string();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!second && std::chrono::steady_clock::now() < deadline) loop.run_once();
  ASSERT_TRUE(first);
  ASSERT_TRUE(second) << "the engine did not bring the device up again";
  loop.run_until((*dev)->close());
  dev->reset();  // the connection closes: the backend's script ends
  b.join();
  EXPECT_EQ(first_rings, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(second_rings, (std::vector<std::uint32_t>{0, 1})) << "a ring of ours went where the backend has another";
}

// F10 on a queue pair handed to a loop that sleeps: that loop does not poll while asleep, so a
// timer of its own runs the pair's watchdog. The backend here takes the frames and completes
// none; the writers waiting for room are failed once the stall limit has passed.
TEST(VhostUserPeerFaultTest, AStalledPairOnASleepingLoopOfItsOwnFailsItsWaitingWriters) {  // F10
  const std::uint64_t mq = feature_bit(VHOST_USER_PROTOCOL_F_MQ);
  FakeBackend b([&](FakeBackend& f) { f.serve({.protocol_features = mq, .queue_pairs = 2}); });
  EventLoop loop;
  auto c = loop.run_until(Netif::connect("vhost-user:" + b.path() + ",queues=2"));
  ASSERT_TRUE(c) << c.error().to_string();
  Netif& n = *c;
  LoopThreadOptions o;
  o.loop = LoopConfig{.idle = IdleMode::Sleep, .idle_polls_before_sleep = 1};
  auto worker = LoopThread::start(o);
  ASSERT_TRUE(worker) << worker.error().to_string();
  EventLoop& wl = (*worker)->loop();
  ASSERT_TRUE(n.queue(1).run_on(wl));
  constexpr unsigned kWrites = 400;  // beyond the 256 entries of the ring: the rest wait for room
  const auto fill = [](Buffer&) -> std::size_t { return 60; };
  std::vector<io<Result<>>> writes;  // the worker's, as is `taken`
  std::vector<bool> taken(kWrites, false);
  wl.post([&] {
    for (unsigned i = 0; i < kWrites; ++i) writes.push_back(n.queue(1).write(60, fill));
  });
  // Counted on the worker, read here.
  std::atomic<unsigned> ready{0}, stalled{0};
  const auto count = [&] {
    std::atomic<bool> counted{false};
    wl.post([&] {
      for (std::size_t i = 0; i < writes.size(); ++i)
        if (!taken[i] && writes[i].ready()) {
          taken[i] = true;
          ++ready;
          Result<> r = writes[i].get();
          if (!r && r.error().message().find("transmit stalled") != std::string::npos) ++stalled;
        }
      counted = true;
    });
    while (!counted) loop.run_once();
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (count(); ready < kWrites && std::chrono::steady_clock::now() < deadline; count()) {
    const auto until = std::chrono::steady_clock::now() + 50ms;
    while (std::chrono::steady_clock::now() < until) loop.run_once();
  }
  EXPECT_EQ(ready.load(), kWrites) << "writers still waiting on a stalled pair whose loop sleeps";
  EXPECT_GT(stalled.load(), 0u);
  EXPECT_GE(n.queue(1).get_stats_counters().tx_stalls, 1u);
  std::atomic<bool> cleared{false};
  wl.post([&] {
    writes.clear();
    cleared = true;
  });
  while (!cleared) loop.run_once();
  loop.run_until(n.disconnect());
}

// --- Client mode trying a backend that went away again (reconnect=MS): every new connection
// starts over from nothing (F5-F8), at most one try per period, and none once the device may
// not be set up on it.

constexpr std::uint64_t kReplyAck = feature_bit(VHOST_USER_PROTOCOL_F_REPLY_ACK);

// The last request of a bring-up of one queue pair: its second ring enabled (with
// PROTOCOL_FEATURES), else that ring's kick (a backend without them enables what it is given).
std::function<bool(const Msg&)> brought_up(bool protocol_features) {
  return [protocol_features](const Msg& m) {
    std::uint32_t ring = 0;
    if (m.payload.size() >= 4) std::memcpy(&ring, m.payload.data(), 4);
    return m.header.request == (protocol_features ? VHOST_USER_SET_VRING_ENABLE : VHOST_USER_SET_VRING_KICK) && (ring & 0xff) == 1;
  };
}

// A handler that goes on serving and sets `back` once the device is up on this connection.
std::function<bool(const Msg&)> note_brought_up(std::atomic<bool>& back) {
  return [&back](const Msg& m) {
    if (brought_up(true)(m)) back = true;
    return false;
  };
}

// The device over a client transport that looks for `path`'s backend again every 20 ms.
Result<std::unique_ptr<virtio::net::VirtioNetDevice>> reconnecting_device(const std::string& path, EventLoop& loop) {
  auto t = VhostUserTransport::open({path, false, 20, {}}, loop, kShortTimeouts);
  if (!t) return t.error().to_error();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t));
  if (!dev) return dev.error().to_error();
  return std::move(*dev);
}

// Turns `loop` until `done()` or `limit`; whether done() held. `longest`: the longest turn.
bool turn_until(EventLoop& loop, const std::function<bool()>& done, std::chrono::milliseconds limit,
                std::chrono::steady_clock::duration* longest = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    const auto start = std::chrono::steady_clock::now();
    if (start >= deadline) return false;
    loop.run_once();
    if (longest) *longest = std::max(*longest, std::chrono::steady_clock::now() - start);
  }
  return true;
}
void turn_for(EventLoop& loop, std::chrono::milliseconds d) { (void)turn_until(loop, [] { return false; }, d); }

// For the backend's thread: waits for the test to say go, at most 5 s.
bool wait_for(const std::atomic<bool>& go) {
  for (int i = 0; i < 5000 && !go; ++i) std::this_thread::sleep_for(1ms);
  return go;
}

using virtio::net::VirtioNetDevice;

// F5: a backend that connects and hangs up again at once, in a tight loop, has the device set
// up over and over: the server takes a new backend at most once per 100 ms (the next waits in
// the listen queue), and one that stays is served as ever.
TEST(VhostUserReconnectTest, ServerTakesABackendThatKeepsComingBackAtMostEveryHundredMs) {  // F5
  const std::string path = "/tmp/netfront-fake-pace-" + std::to_string(::getpid()) + ".sock";
  std::atomic<bool> back{false};
  std::vector<std::chrono::steady_clock::time_point> taken;
  FakeBackend b(path, [&](FakeBackend& f) {
    if (!f.serve({}, brought_up(false))) return;
    for (int i = 0; i < 8; ++i) {
      if (!f.reconnect()) return;
      Msg m;
      if (!f.read(m)) return;  // the frontend's first word on the new connection: it took it
      taken.push_back(std::chrono::steady_clock::now());
      f.hang_up();
    }
    if (!f.reconnect()) return;
    f.serve({}, [&](const Msg& m) {
      if (brought_up(false)(m)) back = true;
      return false;
    });
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({path, true, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t));
  ASSERT_TRUE(dev) << dev.error().to_string();
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 10s)) << "the backend that stayed was not served";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  ASSERT_EQ(taken.size(), 8u);
  for (std::size_t i = 1; i < taken.size(); ++i)
    EXPECT_GE(taken[i] - taken[i - 1], 90ms) << "backend " << i << " was taken too soon after the one before";
}

TEST(VhostUserReconnectTest, ClientTriesTheSocketAgainAndStartsOverOnTheNewConnection) {  // F5-F8
  std::atomic<bool> go{false}, back{false};
  std::vector<std::uint32_t> second;  // the requests of the second connection, once it is up
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go) || !f.restart(100ms)) return;
    f.serve({.protocol_features = kReplyAck}, [&](const Msg& m) {
      if (brought_up(true)(m)) second = f.requests, back = true;
      return false;
    });
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  const unsigned fds = open_fds();  // connected, the backend with one connection and its socket
  go = true;
  EXPECT_TRUE(turn_until(loop, [&] { return !(*dev)->link_up(); }, 2s)) << "the link stayed up with the backend gone";
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 5s)) << "the device did not come back";
  turn_for(loop, 50ms);
  EXPECT_EQ(open_fds(), fds) << "the reconnection left a file descriptor behind, or took one more";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  EXPECT_EQ(b.connections, 2);
  EXPECT_EQ(b.acks_unagreed, 0);
  // Everything again, from the owner on: nothing of the first connection is taken as known.
  ASSERT_FALSE(second.empty());
  EXPECT_EQ(second.front(), VHOST_USER_SET_OWNER);
  for (std::uint32_t r : {VHOST_USER_GET_FEATURES, VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_SET_FEATURES, VHOST_USER_SET_MEM_TABLE,
                          VHOST_USER_SET_VRING_ADDR, VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_KICK})
    EXPECT_NE(std::find(second.begin(), second.end(), r), second.end()) << request_name(r) << " not sent again";
}

// F8: the kick eventfds are the connection's. A backend of an earlier connection that lives on
// (gone from the socket, not from the machine) keeps its copies; were they the ones the new
// connection is given, it could read them and swallow the doorbells meant for the backend that
// has the rings now.
TEST(VhostUserReconnectTest, ABackendOfAnEarlierConnectionHearsNoDoorbellOfTheNext) {  // F8
  std::atomic<bool> first{false}, go{false}, back{false};
  int old_kick = -1, new_kick = -1;
  FakeBackend b([&](FakeBackend& f) {
    f.keep_kicks = true;
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true))) return;
    old_kick = f.take_kick(0);
    first = true;
    if (!wait_for(go) || !f.restart(100ms)) return;
    f.serve({.protocol_features = kReplyAck}, [&](const Msg& m) {
      if (brought_up(true)(m)) {
        new_kick = f.take_kick(0);
        back = true;
      }
      return false;
    });
  });
  // Whether the eventfd's counter was non-zero (it is reset by the read).
  const auto rang = [](int fd) {
    std::uint64_t n = 0;
    return fd >= 0 && ::read(fd, &n, sizeof n) == sizeof n && n > 0;
  };
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  ASSERT_TRUE(turn_until(loop, [&] { return first && (*dev)->link_up(); }, 5s));
  turn_for(loop, 50ms);  // the receive buffers are announced once the device is up
  ASSERT_GE(old_kick, 0);
  EXPECT_TRUE(rang(old_kick)) << "the first backend heard no doorbell";
  go = true;
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 5s)) << "the device did not come back";
  turn_for(loop, 50ms);
  // The earlier one first: were the two one eventfd, reading the new one would reset it.
  EXPECT_FALSE(rang(old_kick)) << "a doorbell for the new connection rang on the earlier backend's eventfd";
  EXPECT_TRUE(rang(new_kick)) << "the backend that has the rings now heard no doorbell";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  for (int fd : {old_kick, new_kick})
    if (fd >= 0) ::close(fd);
}

// REPLY_ACK is a protocol feature of one connection: the backend that comes back may not offer
// it (here: no protocol features at all, as an older or other backend on the same socket), and
// one that never agreed to it does not answer need_reply. Asked for an ack all the same, the
// frontend would time out on SET_OWNER at every try and never come back.
TEST(VhostUserReconnectTest, NewConnectionAsksForNoAckItDidNotNegotiate) {  // F5, F3
  std::atomic<bool> go{false}, back{false};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go) || !f.restart(50ms)) return;
    for (int tries = 0; tries < 5; ++tries) {
      f.serve({}, [&](const Msg& m) {
        if (brought_up(false)(m)) back = true;
        return false;
      });
      if (back || !f.accept_within(2s)) return;  // it hung up: the next try, if one comes
    }
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  go = true;
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 5s))
      << "the device did not come back on a backend without REPLY_ACK";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  EXPECT_EQ(b.acks_unagreed, 0) << "need_reply was set on a connection that never negotiated REPLY_ACK";
  EXPECT_EQ(b.connections, 2);
}

// F1 on the new connection: a backend that comes back and dies mid-handshake, or right after
// it was taken, is one more try; the one after that brings the device back.
TEST(VhostUserReconnectTest, BackendThatDiesAgainMidHandshakeIsTriedAgain) {  // F1, F5
  std::atomic<bool> go{false}, back{false};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go) || !f.restart(50ms)) return;
    f.hang_up();  // taken and gone at once
    if (!f.accept_within(2s)) return;
    f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg&) { f.hang_up(); });  // gone mid-handshake
    if (!f.accept_within(2s)) return;
    f.serve({.protocol_features = kReplyAck}, note_brought_up(back));
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  const unsigned fds = open_fds();
  go = true;
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 5s)) << "the device did not come back";
  turn_for(loop, 50ms);
  EXPECT_EQ(open_fds(), fds);
  EXPECT_EQ((*dev)->counters(0).device_errors.read(), 0u);
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  EXPECT_EQ(b.connections, 4);
}

// F3: a backend that takes the connection and says nothing holds the loop for the reply
// timeout at every try. Each one in a row doubles the wait before the next is dialled; once a
// backend answers and the device is up, the usual period holds again.
TEST(VhostUserReconnectTest, SilentBackendsAreDialledLessAndLessOftenUntilOneAnswers) {  // F3, F5
  using Clock = std::chrono::steady_clock;
  constexpr auto kPeriod = 20ms;  // reconnecting_device's
  constexpr int kSilent = 5;
  std::atomic<bool> go{false}, up{false}, go_again{false}, back{false};
  std::vector<Clock::time_point> hung_up, taken;  // the backend thread's, read after join
  Clock::duration after_good{};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go)) return;
    f.go_away();
    f.listen_again();
    for (int i = 0; i < kSilent; ++i) {
      if (!f.accept_within(5s)) return;
      taken.push_back(Clock::now());
      if (f.count_until_hang_up(5s) < 0) return;  // reads what comes, answers nothing
      hung_up.push_back(Clock::now());
    }
    if (!f.accept_within(10s) || !f.serve({.protocol_features = kReplyAck}, brought_up(true))) return;
    up = true;
    if (!wait_for(go_again)) return;
    const auto gone = Clock::now();
    if (!f.restart(0ms)) return;
    after_good = Clock::now() - gone;
    f.serve({.protocol_features = kReplyAck}, note_brought_up(back));
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  go = true;
  EXPECT_TRUE(turn_until(loop, [&] { return up && (*dev)->link_up(); }, 20s)) << "the backend that answered was not served";
  go_again = true;
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 5s)) << "the device did not come back";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  ASSERT_EQ(hung_up.size(), static_cast<std::size_t>(kSilent));
  ASSERT_EQ(taken.size(), static_cast<std::size_t>(kSilent));
  // The i-th silent backend (from 0) is followed by a wait of kPeriod * 2^(i+1); a little less
  // here, the hang-up being seen a moment after the frontend armed its timer.
  for (int i = 0; i + 1 < kSilent; ++i)
    EXPECT_GE(taken[i + 1] - hung_up[i], kPeriod * (1 << (i + 1)) * 8 / 10) << "silent backend " << i << " was followed too soon";
  EXPECT_LT(after_good, kPeriod * (1 << kSilent) * 6 / 10) << "the wait did not start over once a backend answered";
}

// A backend that comes back and dies again and again is tried once per period, never faster
// (each loss waits a whole period), and leaves nothing behind; when it stays, the device is up.
TEST(VhostUserReconnectTest, FlappingBackendIsTriedOncePerPeriodAndLeaksNothing) {  // F5
  constexpr auto kPeriod = 20ms;
  constexpr int kFlaps = 12;
  std::atomic<bool> go{false}, back{false};
  std::vector<std::chrono::steady_clock::time_point> taken;
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go)) return;
    for (int i = 0; i < kFlaps; ++i) {
      if (!f.restart(0ms)) return;
      taken.push_back(std::chrono::steady_clock::now());
      if (i % 2) f.behave_until(VHOST_USER_SET_OWNER, [](const Msg&) {});  // a word from the frontend first
    }
    if (!f.restart(0ms)) return;
    f.serve({.protocol_features = kReplyAck}, note_brought_up(back));
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, static_cast<unsigned>(kPeriod.count()), {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  auto dev = VirtioNetDevice::open(std::move(*t));
  ASSERT_TRUE(dev) << dev.error().to_string();
  const unsigned fds = open_fds();
  go = true;
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 10s)) << "the device did not come back";
  turn_for(loop, 50ms);
  EXPECT_EQ(open_fds(), fds) << "the reconnections left file descriptors behind";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
  ASSERT_EQ(taken.size(), static_cast<std::size_t>(kFlaps));
  for (std::size_t i = 1; i < taken.size(); ++i)
    EXPECT_GE(taken[i] - taken[i - 1], kPeriod - 1ms) << "try " << i << " came sooner than a period after the loss";
  EXPECT_EQ(b.connections, kFlaps + 2);
}

// reconnect=0: a lost backend stays lost, whatever comes back on its socket.
TEST(VhostUserReconnectTest, ReconnectZeroNeverTriesAgain) {
  std::atomic<bool> go{false}, came{false};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({}, brought_up(false)) || !wait_for(go) || !f.restart(0ms, 500ms)) return;
    came = true;
  });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  auto dev = VirtioNetDevice::open(std::move(*t));
  ASSERT_TRUE(dev) << dev.error().to_string();
  go = true;
  turn_for(loop, 700ms);
  b.join();
  EXPECT_FALSE(came) << "reconnect=0 connected again";
  EXPECT_FALSE((*dev)->link_up());
  loop.run_until((*dev)->close());
}

// The file descriptors open but the device memory's segments, which stay with the process once
// the first device made them (runtime/device_memory.hpp): the count a device leaves behind.
unsigned open_fds_but_device_memory() {
  unsigned n = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string().find("/memfd:netfront-device") != 0) ++n;
  }
  return n;
}

// The application disconnects while a try is pending: the device goes with its timer and its
// socket; the backend that comes back after finds nobody, and the loop turns on without it.
TEST(VhostUserReconnectTest, DisconnectWithATryPendingLeavesNothingBehind) {
  std::atomic<bool> go{false}, gone{false}, came{false};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({}, brought_up(false)) || !wait_for(go)) return;
    f.go_away();
    if (!wait_for(gone)) return;
    f.listen_again();
    came = f.accept_within(500ms);
  });
  const unsigned fds = open_fds_but_device_memory();
  {
    EventLoop loop;
    auto dev = reconnecting_device(b.path(), loop);
    ASSERT_TRUE(dev) << dev.error().to_string();
    go = true;
    EXPECT_TRUE(turn_until(loop, [&] { return !(*dev)->link_up(); }, 2s));
    turn_for(loop, 50ms);  // a few tries, all refused
    loop.run_until((*dev)->close());
    dev->reset();
    gone = true;
    turn_for(loop, 700ms);
    b.join();
  }
  EXPECT_FALSE(came) << "a disconnected device connected again";
  EXPECT_EQ(open_fds_but_device_memory(), fds);
}

// §2.1.2: a driver that set FAILED has given up on the device. Here the backend that comes back
// is another device (features changed across the reset): the engine fails it, and once that
// backend goes too nothing dials the socket again, or holds a connection nobody will set up.
TEST(VhostUserReconnectTest, DeviceThatFailedIsNotDialledAgain) {  // F5
  const std::uint64_t mrg = feature_bit(virtio::net::VIRTIO_NET_F_MRG_RXBUF);
  std::atomic<bool> go{false}, third{false}, finished{false};
  std::atomic<int> after_failure{-2};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.features = mrg, .protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go) || !f.restart(50ms))
      return;
    f.serve({.protocol_features = kReplyAck}, [](const Msg& m) { return m.header.request == VHOST_USER_SET_PROTOCOL_FEATURES; });
    after_failure = f.count_until_hang_up(500ms);
    f.go_away();
    f.listen_again();
    third = f.accept_within(500ms);
    finished = true;
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  ASSERT_TRUE((*dev)->features() & mrg);
  go = true;
  turn_until(loop, [&] { return finished.load(); }, 3s);
  b.join();
  EXPECT_EQ(after_failure, -1) << "the failed device went on talking to the backend";
  EXPECT_FALSE(third) << "the socket was dialled again after the device failed";
  EXPECT_FALSE((*dev)->link_up());
  loop.run_until((*dev)->close());
  dev->reset();
}

// Channel::connect on a listener that does not accept (its backlog full) fails once the
// connect timeout is over, and a try between two ticks does not hold the loop at all.
TEST(VhostUserReconnectTest, ListenerThatDoesNotAcceptHoldsNeitherConnectNorTheLoop) {  // F3
  std::atomic<bool> go{false}, full{false}, back{false};
  FakeBackend b([&](FakeBackend& f) {
    if (!f.serve({.protocol_features = kReplyAck}, brought_up(true)) || !wait_for(go)) return;
    f.go_away();
    f.listen_again(0);
    // One connection waits in the backlog: the next connect finds it full.
    const int queued = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, f.path().c_str());
    EXPECT_EQ(::connect(queued, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    full = true;
    std::this_thread::sleep_for(800ms);
    (void)f.accept_within(100ms);  // the one queued
    ::close(queued);
    if (!f.accept_within(2s)) return;
    f.serve({.protocol_features = kReplyAck}, note_brought_up(back));
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  go = true;
  ASSERT_TRUE(turn_until(loop, [&] { return full.load(); }, 2s));
  {
    const auto start = std::chrono::steady_clock::now();
    auto other = VhostUserTransport::open({b.path(), false, 0, {}}, loop, {.connect_timeout = 200ms, .reply_timeout = 300ms});
    ASSERT_FALSE(other);
    EXPECT_TRUE(other.error().is(TransportError::NoBackend)) << other.error().to_string();
    EXPECT_NE(other.error().message().find("does not accept"), std::string::npos) << other.error().to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 600ms) << "connect waited past its timeout";
  }
  std::chrono::steady_clock::duration longest{};
  EXPECT_TRUE(turn_until(loop, [&] { return back && (*dev)->link_up(); }, 5s, &longest)) << "the device did not come back";
  EXPECT_LT(longest, 400ms) << "a try held the loop for "
                            << std::chrono::duration_cast<std::chrono::milliseconds>(longest).count() << " ms";
  loop.run_until((*dev)->close());
  dev->reset();
  b.join();
}

// E5, A12 on vhost-user: a backend that never confirms it stopped a ring (GET_VRING_BASE left
// unanswered) may still be working it. Closing the connection does not prove otherwise, so
// the rings and the buffers it was given are never freed or reused. The memory stays with
// the process for good, hence a suite of its own (run alone, see dpdk_main.cpp).
TEST(AbandonedDeviceVhostUserTest, RingStopNeverConfirmedKeepsItsRingsAndBuffers) {  // A12, E5
  FakeBackend b([](FakeBackend& f) { f.serve({.ignore_get_vring_base = true}); });
  EventLoop loop;
  auto t = VhostUserTransport::open({b.path(), false, 0, {}}, loop, kShortTimeouts);
  ASSERT_TRUE(t) << t.error().to_string();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t));
  ASSERT_TRUE(dev) << dev.error().to_string();
  const unsigned posted = rte_mempool_in_use_count((*dev)->rx_pool());
  ASSERT_GT(posted, 0u);
  loop.run_until((*dev)->close());
  EXPECT_EQ(rte_mempool_in_use_count((*dev)->rx_pool()), posted) << "buffers a running backend may write went back";
}

// E5 and reconnecting: once a ring's stop went unconfirmed, the backend may still be working our
// rings, and a new connection would have them set up again for a second one: the socket is not
// dialled again. The transport's reset() is called as the engine's recovery would; the rings
// stay the old backend's (A12), hence this suite.
TEST(AbandonedDeviceVhostUserTest, NoReconnectAfterAnUnconfirmedRingStop) {  // E5, A12
  std::atomic<bool> lost{false}, came{false};
  FakeBackend b([&](FakeBackend& f) {
    f.serve({.ignore_get_vring_base = true});  // until the frontend hangs up, GET_VRING_BASE unanswered
    lost = true;
    f.go_away();
    f.listen_again();
    came = f.accept_within(500ms);
  });
  EventLoop loop;
  auto dev = reconnecting_device(b.path(), loop);
  ASSERT_TRUE(dev) << dev.error().to_string();
  auto& transport = static_cast<VhostUserTransport&>((*dev)->transport());
  virtio::Result<> r = transport.reset();
  ASSERT_FALSE(r);
  EXPECT_FALSE(transport.revoke_dma()) << "the rings were taken back from a backend that may still work them";
  EXPECT_FALSE(transport.connected());
  turn_until(loop, [&] { return lost && came; }, 1000ms);
  b.join();
  EXPECT_FALSE(came) << "the socket was dialled again after an unconfirmed ring stop";
  EXPECT_FALSE(transport.connected());
  loop.run_until((*dev)->close());
}

}  // namespace
}  // namespace netfront
