// A vhost-user backend that misbehaves on purpose (checklist F1-F4), scripted in a thread of
// the test: it never answers, answers the wrong request, with the wrong size or flags, attaches
// file descriptors nobody asked for, NACKs, or hangs up mid-handshake. netfront must fail the
// connect with an error that says what happened, close what it was sent, and leak nothing.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "drivers/virtio/net/virtio_net_device.hpp"
#include "drivers/virtio/transport/vhost_user/vhost_user_transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "runtime/event_loop.hpp"
#include "open_fds.hpp"

namespace netfront {
namespace {

using namespace virtio::vhost_user;
using namespace std::chrono_literals;

using testing::open_fds;

struct Msg {
  MessageHeader header{};
  std::vector<std::byte> payload;
};

// One connection's worth of a scripted backend.
class FakeBackend {
 public:
  using Script = std::function<void(FakeBackend&)>;

  explicit FakeBackend(Script script) : path_("/tmp/netfront-fake-" + std::to_string(::getpid()) + ".sock") {
    ::unlink(path_.c_str());
    listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_, 1), 0);
    thread_ = std::thread([this, script] {
      fd_ = ::accept(listen_, nullptr, nullptr);
      if (fd_ >= 0) script(*this);
    });
  }
  ~FakeBackend() {
    ::shutdown(listen_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    ::close(listen_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

  // Reads one request; false when the frontend hung up.
  bool read(Msg& m) {
    if (::recv(fd_, &m.header, sizeof m.header, MSG_WAITALL) != sizeof m.header) return false;
    m.payload.resize(m.header.size);
    if (m.header.size == 0) return true;
    char control[256];
    iovec iov{m.payload.data(), m.payload.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd_, &msg, MSG_WAITALL) != static_cast<ssize_t>(m.header.size)) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))  // fds we were given
      for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        ::close(fd);
      }
    return true;
  }
  void reply(std::uint32_t request, std::uint32_t flags, const void* payload, std::uint32_t size, int attach_fd = -1) {
    MessageHeader h{request, flags, size};
    iovec iov[2] = {{&h, sizeof h}, {const_cast<void*>(payload), size}};
    char control[CMSG_SPACE(sizeof(int))]{};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = size ? 2 : 1;
    if (attach_fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &attach_fd, sizeof(int));
    }
    ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  }
  void reply_u64(std::uint32_t request, std::uint64_t v, std::uint32_t flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) {
    reply(request, flags, &v, sizeof v);
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
    ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  int listen_ = -1;
  int fd_ = -1;
  std::thread thread_;
};

// Connects with short timeouts; returns the error connect ended with.
Error connect_error(const FakeBackend& backend) {
  runtime::EventLoop loop;
  auto t = VhostUserTransport::open({backend.path(), false, {}}, loop, {.connect_timeout = 2000ms, .reply_timeout = 300ms});
  if (!t) return t.error();
  auto dev = virtio::net::VirtioNetDevice::open(std::move(*t));
  EXPECT_FALSE(dev) << "a misbehaving backend was accepted";
  return dev ? Error::unknown("accepted") : dev.error();
}

TEST(VhostUserPeerFaultTest, BackendThatNeverAnswersTimesOut) {  // F3
  const unsigned fds = open_fds();
  {
    FakeBackend b([](FakeBackend& f) { f.behave_until(VHOST_USER_GET_FEATURES, [](const Msg&) {}); std::this_thread::sleep_for(1s); });
    const Error e = connect_error(b);
    EXPECT_NE(e.message().find("did not answer"), std::string::npos) << e.to_string();
  }
  EXPECT_EQ(open_fds(), fds);
}

TEST(VhostUserPeerFaultTest, ReplyToAnotherRequestIsRefused) {  // F2
  FakeBackend b([](FakeBackend& f) {
    f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg&) { f.reply_u64(VHOST_USER_GET_QUEUE_NUM, 1); });
  });
  const Error e = connect_error(b);
  EXPECT_NE(e.message().find("GET_FEATURES reply answers request 17"), std::string::npos) << e.to_string();
}

TEST(VhostUserPeerFaultTest, ReplyWithWrongSizeIsRefused) {  // F2
  FakeBackend b([](FakeBackend& f) {
    f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg& m) {
      const std::uint32_t four = 1;
      f.reply(m.header.request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, &four, sizeof four);
    });
  });
  const Error e = connect_error(b);
  EXPECT_NE(e.message().find("4 payload bytes, expected 8"), std::string::npos) << e.to_string();
}

TEST(VhostUserPeerFaultTest, ReplyWithoutReplyFlagOrWrongVersionIsRefused) {  // F2
  for (std::uint32_t flags : {VHOST_USER_VERSION, 0x2u | VHOST_USER_REPLY_MASK}) {
    FakeBackend b([flags](FakeBackend& f) {
      f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg& m) { f.reply_u64(m.header.request, 1, flags); });
    });
    const Error e = connect_error(b);
    EXPECT_NE(e.message().find("bad flags"), std::string::npos) << e.to_string();
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
    const Error e = connect_error(b);
    EXPECT_NE(e.message().find("VERSION_1"), std::string::npos) << e.to_string();
  }
  ::close(extra);
  EXPECT_EQ(open_fds(), fds - 1) << "the fd the backend sent was not closed";
}

TEST(VhostUserPeerFaultTest, BackendHangingUpMidHandshakeIsAnError) {  // F1
  FakeBackend b([](FakeBackend& f) { f.behave_until(VHOST_USER_GET_FEATURES, [&](const Msg&) { f.hang_up(); }); });
  const Error e = connect_error(b);
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
  const Error e = connect_error(b);
  EXPECT_NE(e.message().find("refused SET_MEM_TABLE"), std::string::npos) << e.to_string();
}

}  // namespace
}  // namespace netfront
