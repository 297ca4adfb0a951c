// The vhost-net transport's tap (Documentation/networking/tuntap.rst), on this machine's own
// tun driver, inside a network namespace of the test's own so that no interface of the
// machine's is ever touched: the queues netfront attaches, the header length and offloads it
// sets, a tap of another kind refused. The vhost ioctls themselves need /dev/vhost-net, which
// only a guest has here (the end-to-end test ApplianceVhostNet drives them).
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include "drivers/virtio/transport/vhost_kernel/tap.hpp"
#include "drivers/virtio/transport/vhost_kernel/vhost_kernel_transport.hpp"

namespace netfront::testing {
namespace {

using virtio::transport::TransportError;
using virtio::transport::vhost_kernel::Tap;
using virtio::transport::vhost_kernel::VhostKernelTransport;

// Runs `body` on a thread of its own network namespace (unshare affects the calling thread
// only), which goes with the thread and takes its interfaces along.
void in_private_netns(const std::function<void()>& body) {
  std::thread([&] {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    body();
  }).join();
}

TEST(VhostNetTap, QueuesAttachDetachAndGoWithTheLastFile) {
  in_private_netns([] {
    {
      auto tap = Tap::open("nft0", 2);
      ASSERT_TRUE(tap) << tap.error().to_string();
      EXPECT_EQ(tap->queues(), 2u);
      EXPECT_NE(::if_nametoindex("nft0"), 0u);
      EXPECT_TRUE(tap->set_header_length(12));
      EXPECT_TRUE(tap->set_header_length(10));
      EXPECT_FALSE(tap->set_header_length(3));  // shorter than any virtio-net header
      EXPECT_TRUE(tap->set_offloads(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN));
      EXPECT_TRUE(tap->set_offloads(0));
      auto no_csum = tap->set_offloads(TUN_F_TSO4);  // segmentation without checksums: refused by tun
      ASSERT_FALSE(no_csum);
      EXPECT_NE(no_csum.error().message().find("TUNSETOFFLOAD on tap nft0"), std::string::npos) << no_csum.error().message();
      EXPECT_TRUE(tap->attach(1, false));
      EXPECT_TRUE(tap->attach(1, false));  // already detached: nothing to do
      EXPECT_TRUE(tap->attach(1, true));
      auto beyond = tap->attach(2, true);
      ASSERT_FALSE(beyond);
      EXPECT_TRUE(beyond.error().is(TransportError::BadRequest)) << beyond.error().message();
      Tap moved = std::move(*tap);
      EXPECT_EQ(moved.name(), "nft0");
      EXPECT_NE(::if_nametoindex("nft0"), 0u);
    }
    EXPECT_EQ(::if_nametoindex("nft0"), 0u) << "the tap outlived its last queue file";
  });
}

TEST(VhostNetTap, ATapOfAnotherKindIsRefusedAndLeftAsItWas) {
  in_private_netns([] {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "nft1");
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;  // single-queue, no virtio-net header
    ASSERT_EQ(::ioctl(fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);
    auto tap = Tap::open("nft1", 1);
    ASSERT_FALSE(tap);
    EXPECT_TRUE(tap.error().is(TransportError::Refused)) << tap.error().message();
    EXPECT_NE(tap.error().message().find("tap nft1 exists and cannot be attached to"), std::string::npos) << tap.error().message();
    EXPECT_NE(::if_nametoindex("nft1"), 0u);
    ::close(fd);
    EXPECT_FALSE(Tap::open("", 1));
    EXPECT_FALSE(Tap::open("sixteen-chars-xx", 1));
  });
}

TEST(VhostNetTap, AKernelWithoutVhostNetIsToldSoAndNoTapIsLeft) {
  if (::access("/dev/vhost-net", F_OK) == 0) GTEST_SKIP() << "this machine has vhost-net: ApplianceVhostNet covers it";
  in_private_netns([] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft2", .accept = {}}, 1);
    ASSERT_FALSE(t);
    EXPECT_TRUE(t.error().is(TransportError::Unsupported)) << t.error().message();
    EXPECT_NE(t.error().message().find("no /dev/vhost-net"), std::string::npos) << t.error().message();
    EXPECT_EQ(::if_nametoindex("nft2"), 0u);
  });
}

}  // namespace
}  // namespace netfront::testing
