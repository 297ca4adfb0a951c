// The vhost-net transport's tap (Documentation/networking/tuntap.rst), on this machine's own
// tun driver, inside a network namespace of the test's own so that no interface of the
// machine's is ever touched: the queues netfront attaches, the header length and offloads it
// sets, a tap of another kind refused, names the kernel would refuse. The vhost ioctls
// themselves need /dev/vhost-net, which only a guest has here (the end-to-end test
// ApplianceVhostNet drives them); the transport's own bookkeeping around them (which files,
// which features, what reset and revoke do, every error path) is checked against a model of
// Linux 6.1's vhost-net (FakeVhostNet below) that answers the ioctls of a stand-in
// /dev/vhost-net in a mount namespace of the test's own.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "drivers/virtio/net/net_spec.hpp"
#include "drivers/virtio/transport/vhost_kernel/tap.hpp"
#include "drivers/virtio/transport/vhost_kernel/vhost_ioctl.hpp"
#include "drivers/virtio/transport/vhost_kernel/vhost_kernel_transport.hpp"
#include "drivers/virtio/virtio_spec.hpp"
#include "test/unit/open_fds.hpp"

namespace netfront::testing {
namespace {

namespace vk = virtio::transport::vhost_kernel;
using virtio::feature_bit;
using virtio::transport::QueueSetup;
using virtio::transport::TransportError;
using virtio::transport::vhost_kernel::Tap;
using virtio::transport::vhost_kernel::VhostKernelTransport;

// The uapi's numbers (linux/vhost.h, vhost_types.h, if_tun.h of Linux 6.1, as a C program
// including them prints them): the project spells them itself (vhost_ioctl.hpp says why).
static_assert(vk::VHOST_GET_FEATURES == 0x8008af00);
static_assert(vk::VHOST_SET_FEATURES == 0x4008af00);
static_assert(vk::VHOST_SET_OWNER == 0xaf01);
static_assert(vk::VHOST_RESET_OWNER == 0xaf02);
static_assert(vk::VHOST_SET_MEM_TABLE == 0x4008af03);
static_assert(vk::VHOST_SET_VRING_NUM == 0x4008af10);
static_assert(vk::VHOST_SET_VRING_ADDR == 0x4028af11);
static_assert(vk::VHOST_SET_VRING_BASE == 0x4008af12);
static_assert(vk::VHOST_SET_VRING_KICK == 0x4008af20);
static_assert(vk::VHOST_SET_VRING_CALL == 0x4008af21);
static_assert(vk::VHOST_NET_SET_BACKEND == 0x4008af30);
static_assert(sizeof(vk::VringFile) == 8 && sizeof(vk::MemoryRegion) == 32 && sizeof(vk::MemoryHeader) == 8);
static_assert(offsetof(vk::MemoryTable, regions) == 8);
static_assert(offsetof(virtio::transport::vhost::VringAddress, descriptor) == 8 &&
              offsetof(virtio::transport::vhost::VringAddress, used) == 16 &&
              offsetof(virtio::transport::vhost::VringAddress, available) == 24);
static_assert(vk::VHOST_F_LOG_ALL == 26 && vk::VHOST_NET_F_VIRTIO_NET_HDR == 27);
static_assert(TUNSETIFF == 0x400454ca && TUNSETQUEUE == 0x400454d9 && TUNSETVNETHDRSZ == 0x400454d8 &&
              TUNSETOFFLOAD == 0x400454d0);

// --- A model of Linux 6.1's vhost-net, behind a stand-in /dev/vhost-net -------------------
//
// The stand-in is a plain file in a tmpfs mounted over /dev in a mount namespace of the
// test's own thread; ioctl() is replaced for this binary (the definition below), and answers
// for that file what drivers/vhost/net.c and vhost.c would, passing every other call to the
// kernel unchanged. Each open file is told apart by the file position the model gives it on
// first sight (a new open starts at 0), so a file closed and a new one on the same number
// are two files, as for the kernel.

// VHOST_FEATURES | VHOST_NET_FEATURES of 6.1: NOTIFY_ON_EMPTY, INDIRECT_DESC, EVENT_IDX,
// LOG_ALL, ANY_LAYOUT (= VHOST_NET_F_VIRTIO_NET_HDR), VERSION_1, MRG_RXBUF, ACCESS_PLATFORM,
// RING_RESET.
constexpr std::uint64_t kLinux61Features = feature_bit(24) | feature_bit(28) | feature_bit(29) | feature_bit(26) |
                                           feature_bit(27) | feature_bit(32) | feature_bit(15) | feature_bit(33) |
                                           feature_bit(40);

struct FakeVhostNet {
  struct File {
    bool owner = false;
    bool features_set = false;
    std::uint64_t acked = 0;
  };

  std::map<long, File> files;  // by the position given to the open file
  std::vector<std::string> log;  // "SET_OWNER 1", "RESET_OWNER 1", ...
  long next_tag = 1;
  unsigned owner_calls = 0;
  int fail_owner_call = -1;  // that SET_OWNER (counted from 0) fails with ENOMEM
  bool fail_reset_owner = false;
  std::uint64_t offered = kLinux61Features;  // what VHOST_GET_FEATURES says
  ino_t inode = 0;
  dev_t device = 0;

  bool is_fake(int fd) const {
    struct stat st{};
    return inode != 0 && ::fstat(fd, &st) == 0 && st.st_ino == inode && st.st_dev == device;
  }
  long tag_of(int fd) {
    const long pos = static_cast<long>(::lseek(fd, 0, SEEK_CUR));
    if (pos > 0) return pos;
    const long tag = next_tag++;
    ::lseek(fd, tag, SEEK_SET);
    files[tag] = {};
    return tag;
  }
  int fail(int e) {
    errno = e;
    return -1;
  }
  int ioctl(int fd, unsigned long request, void* arg) {
    const long tag = tag_of(fd);
    File& f = files[tag];
    const auto note = [&](const char* what) { log.push_back(std::string(what) + " " + std::to_string(tag)); };
    switch (request) {
      case 0xaf01:  // VHOST_SET_OWNER (vhost_net_set_owner)
        note("SET_OWNER");
        if (static_cast<int>(owner_calls++) == fail_owner_call) return fail(ENOMEM);
        if (f.owner) return fail(EBUSY);
        f.owner = true;
        return 0;
      case 0xaf02:  // VHOST_RESET_OWNER (vhost_net_reset_owner: the owner's only)
        note("RESET_OWNER");
        if (!f.owner) return fail(EPERM);
        if (fail_reset_owner) return fail(ENOMEM);
        f = {};
        return 0;
      case 0x8008af00:  // VHOST_GET_FEATURES
        note("GET_FEATURES");
        *static_cast<std::uint64_t*>(arg) = offered;
        return 0;
      case 0x4008af00: {  // VHOST_SET_FEATURES: nothing beyond VHOST_NET_FEATURES
        note("SET_FEATURES");
        const std::uint64_t v = *static_cast<const std::uint64_t*>(arg);
        if (v & ~offered) return fail(EOPNOTSUPP);
        f.acked = v;
        f.features_set = true;
        return 0;
      }
      default:  // the rest (memory table, rings, backend) is vhost_dev_ioctl's: the owner's only
        note("OTHER");
        if (!f.owner) return fail(EPERM);
        return fail(ENOTTY);
    }
  }
  std::size_t count(const std::string& what) const {
    std::size_t n = 0;
    for (const auto& l : log) n += l.rfind(what + " ", 0) == 0;
    return n;
  }
};

FakeVhostNet* fake_vhost = nullptr;  // while a case runs

}  // namespace
}  // namespace netfront::testing

// glibc's ioctl, replaced for this binary: the model answers for its stand-in file, the
// kernel for every other.
extern "C" int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (netfront::testing::fake_vhost && netfront::testing::fake_vhost->is_fake(fd))
    return netfront::testing::fake_vhost->ioctl(fd, request, arg);
  return static_cast<int>(::syscall(SYS_ioctl, fd, request, arg));
}

namespace netfront::testing {
namespace {

// The open files whose path is `path`, lowest number first (the order they were opened in,
// for files opened one after another).
std::vector<int> open_files_of(const std::string& path) {
  std::vector<int> out;
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec) == path) out.push_back(std::stoi(e.path().filename().string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct TapQueueState {
  bool detached;
  int header_length;
};
// What the tap's queue files say of themselves (TUNGETIFF reports IFF_DETACH_QUEUE per file).
std::vector<TapQueueState> tap_queues() {
  std::vector<TapQueueState> out;
  for (int fd : open_files_of("/dev/net/tun")) {
    ifreq ifr{};
    int hdr = -1;
    EXPECT_EQ(::ioctl(fd, TUNGETIFF, &ifr), 0) << std::strerror(errno);
    EXPECT_EQ(::ioctl(fd, TUNGETVNETHDRSZ, &hdr), 0) << std::strerror(errno);
    out.push_back({(ifr.ifr_flags & IFF_DETACH_QUEUE) != 0, hdr});
  }
  return out;
}

// Runs `body` on a thread of its own network namespace (unshare affects the calling thread
// only), which goes with the thread and takes its interfaces along.
void in_private_netns(const std::function<void()>& body) {
  std::thread([&] {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
    body();
  }).join();
}

// As in_private_netns, and with a mount namespace of the thread's own whose /dev is a tmpfs
// holding the tun device and the model's stand-in /dev/vhost-net (a plain file): the
// machine's /dev is never touched, and goes back to the thread's view when it ends.
void with_fake_vhost_net(FakeVhostNet& fake, const std::function<void()>& body) {
  std::thread([&] {
    ASSERT_EQ(::unshare(CLONE_NEWNET | CLONE_NEWNS), 0) << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    ASSERT_EQ(::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755"), 0) << std::strerror(errno);
    ASSERT_EQ(::mkdir("/dev/net", 0755), 0) << std::strerror(errno);
    ASSERT_EQ(::mknod("/dev/net/tun", S_IFCHR | 0600, ::makedev(10, 200)), 0) << std::strerror(errno);
    const int fd = ::open("/dev/vhost-net", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    struct stat st{};
    ASSERT_EQ(::fstat(fd, &st), 0);
    ::close(fd);
    fake.inode = st.st_ino;
    fake.device = st.st_dev;
    fake_vhost = &fake;
    body();
    fake_vhost = nullptr;
  }).join();
  fake_vhost = nullptr;
}

constexpr std::uint64_t kVhostOwnBits = feature_bit(24) | feature_bit(26) | feature_bit(33) | feature_bit(40);

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

TEST(VhostNetTap, NamesTheKernelWouldRefuseOrRewriteAreBadRequestsAndLeaveNothing) {
  in_private_netns([] {
    const unsigned fds = open_fds();
    // dev_valid_name refuses all but the '%' one, with an EINVAL that read as "a tap of
    // another kind"; "tap%d" would have made a tap "tap0"; the NUL would have cut it to "ta".
    for (const std::string& bad : std::vector<std::string>{".", "..", "a/b", "a:b", "a b", "a\tb", "a\nb", "tap%d", "x\x7f", "\xa0x",
                                                           "\xc3\xa0", std::string("ta\0p", 4)}) {
      auto tap = Tap::open(bad, 1);
      ASSERT_FALSE(tap) << bad;
      EXPECT_TRUE(tap.error().is(TransportError::BadRequest)) << tap.error().message();
      EXPECT_NE(tap.error().message().find("is not an interface name"), std::string::npos) << tap.error().message();
    }
    EXPECT_EQ(::if_nametoindex("tap0"), 0u);
    EXPECT_EQ(::if_nametoindex("ta"), 0u);
    // A tap has 1 to 256 queues (MAX_TAP_QUEUES): the 257th file would get E2BIG.
    for (unsigned queues : {0u, 257u, 100000u}) {
      auto tap = Tap::open("nft4", queues);
      ASSERT_FALSE(tap) << queues;
      EXPECT_TRUE(tap.error().is(TransportError::BadRequest)) << tap.error().message();
      EXPECT_NE(tap.error().message().find("a tap has 1 to 256 queues"), std::string::npos) << tap.error().message();
    }
    EXPECT_EQ(::if_nametoindex("nft4"), 0u);
    EXPECT_EQ(open_fds(), fds);
    {
      auto most = Tap::open("nft4", Tap::kMaxQueues);
      ASSERT_TRUE(most) << most.error().to_string();
      EXPECT_EQ(most->queues(), 256u);
    }
    EXPECT_EQ(open_fds(), fds);
    EXPECT_EQ(::if_nametoindex("nft4"), 0u);
  });
}

TEST(VhostNetTap, ATapRefusedLeavesNoFileBehind) {
  in_private_netns([] {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "nft5");
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;  // a tun, not a tap
    ASSERT_EQ(::ioctl(fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);
    const unsigned fds = open_fds();
    for (unsigned queues : {1u, 3u}) {
      auto tap = Tap::open("nft5", queues);
      ASSERT_FALSE(tap);
      EXPECT_TRUE(tap.error().is(TransportError::Refused)) << tap.error().message();
    }
    auto lo = Tap::open("lo", 2);  // not a tun device at all
    ASSERT_FALSE(lo);
    EXPECT_TRUE(lo.error().is(TransportError::Refused)) << lo.error().message();
    EXPECT_EQ(open_fds(), fds);
    ::close(fd);
  });
}

// One vhost file per pair, owned and asked for its features, and nothing else yet: the tap's
// queues past the first wait detached; no ring exists, so nothing can be notified.
TEST(VhostNetTransport, OpensAnOwnedVhostFilePerPairAndDetachesTheTapQueuesPastTheFirst) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    const unsigned fds = open_fds();
    {
      auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft6", .accept = {}}, 2);
      ASSERT_TRUE(t) << t.error().to_string();
      VhostKernelTransport& v = **t;
      EXPECT_EQ(fake.log, (std::vector<std::string>{"SET_OWNER 1", "GET_FEATURES 1", "SET_OWNER 2", "GET_FEATURES 2"}));
      EXPECT_EQ(open_files_of("/dev/vhost-net").size(), 2u);
      const auto queues = tap_queues();
      ASSERT_EQ(queues.size(), 2u);
      EXPECT_FALSE(queues[0].detached);
      EXPECT_TRUE(queues[1].detached);
      EXPECT_EQ(v.describe(), "vhost-net:nft6");
      EXPECT_EQ(v.queue_count(), 5u);
      EXPECT_EQ(v.queue_max_size(4), 32768u);
      EXPECT_EQ(v.queue_max_size(5), 0u);
      for (std::uint16_t i = 0; i < 4; ++i) EXPECT_GE(v.interrupt_fd(i), 0) << i;
      EXPECT_EQ(v.interrupt_fd(4), -1);  // the control queue is answered in notify()
      EXPECT_EQ(v.interrupt_fd(0xffff), -1);
      for (std::uint16_t i : {0, 1, 2, 3, 4, 5, 0xffff}) EXPECT_FALSE(v.notify(i)) << i;
      const std::uint64_t f = v.device_features();
      using namespace virtio::net;
      for (unsigned bit : {virtio::VIRTIO_F_VERSION_1, VIRTIO_NET_F_MRG_RXBUF, virtio::VIRTIO_F_EVENT_IDX,
                           virtio::VIRTIO_F_INDIRECT_DESC, virtio::VIRTIO_F_ANY_LAYOUT, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MQ,
                           VIRTIO_NET_F_STATUS, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_HOST_TSO4,
                           VIRTIO_NET_F_GUEST_TSO6})
        EXPECT_TRUE(virtio::has_feature(f, bit)) << bit;
      // vhost's own bits, and what a vhost backend has no configuration space or ring for.
      EXPECT_EQ(f & kVhostOwnBits, 0u);
      for (unsigned bit : {virtio::VIRTIO_F_RING_PACKED, virtio::VIRTIO_F_IN_ORDER, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU,
                           VIRTIO_NET_F_HOST_USO, VIRTIO_NET_F_HASH_REPORT})
        EXPECT_FALSE(virtio::has_feature(f, bit)) << bit;
    }
    // Gone with the transport: every rings' stop confirmed, every file closed, the tap with them.
    EXPECT_EQ(fake.count("RESET_OWNER"), 2u);
    EXPECT_TRUE(open_files_of("/dev/vhost-net").empty());
    EXPECT_EQ(::if_nametoindex("nft6"), 0u);
    EXPECT_EQ(open_fds(), fds);
  });
}

// The kernel is given the driver's ring features only (VHOST_NET_F_VIRTIO_NET_HDR, bit 27, is
// ANY_LAYOUT to a driver: the tap carries the header, so vhost must never have it, nor the
// offloads nor the frontend's own bits), and the tap the header length of §5.1.6.1.
TEST(VhostNetTransport, FeaturesReachTheKernelWithoutItsOwnBitsAndSetTheTapsHeaderLength) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft7", .accept = {}}, 2);
    ASSERT_TRUE(t) << t.error().to_string();
    VhostKernelTransport& v = **t;
    using namespace virtio::net;
    using virtio::VIRTIO_CONFIG_S_ACKNOWLEDGE, virtio::VIRTIO_CONFIG_S_DRIVER, virtio::VIRTIO_CONFIG_S_FEATURES_OK;
    const std::uint8_t ok = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
    const std::uint64_t ring = feature_bit(virtio::VIRTIO_F_VERSION_1) | feature_bit(VIRTIO_NET_F_MRG_RXBUF) |
                               feature_bit(virtio::VIRTIO_F_EVENT_IDX) | feature_bit(virtio::VIRTIO_F_INDIRECT_DESC);
    const std::uint64_t driver = ring | feature_bit(virtio::VIRTIO_F_ANY_LAYOUT) | feature_bit(VIRTIO_NET_F_CTRL_VQ) |
                                 feature_bit(VIRTIO_NET_F_MQ) | feature_bit(VIRTIO_NET_F_STATUS) | feature_bit(VIRTIO_NET_F_CSUM) |
                                 feature_bit(VIRTIO_NET_F_GUEST_CSUM);
    ASSERT_EQ(driver & ~v.device_features(), 0u);
    v.set_driver_features(driver);
    v.set_status(ok);
    EXPECT_EQ(v.status(), ok);
    ASSERT_EQ(fake.count("SET_FEATURES"), 2u);
    for (const auto& [tag, file] : fake.files) {
      EXPECT_TRUE(file.features_set) << tag;
      EXPECT_EQ(file.acked, ring) << tag;
    }
    for (const TapQueueState& q : tap_queues()) EXPECT_EQ(q.header_length, 12);
    // Once FEATURES_OK is set they are the device's until a reset: the kernel and the tap are
    // left alone, and the status stays what it was.
    v.set_driver_features(feature_bit(VIRTIO_NET_F_CSUM));
    EXPECT_EQ(fake.count("SET_FEATURES"), 2u);
    for (const TapQueueState& q : tap_queues()) EXPECT_EQ(q.header_length, 12);
    EXPECT_EQ(v.status(), ok);

    // Without VERSION_1 and MRG_RXBUF the header has no num_buffers: 10 bytes.
    ASSERT_TRUE(v.reset());
    EXPECT_EQ(v.status(), 0u);
    v.set_driver_features(feature_bit(virtio::VIRTIO_F_ANY_LAYOUT) | feature_bit(VIRTIO_NET_F_CSUM));
    v.set_status(ok);
    EXPECT_EQ(v.status(), ok);
    for (const TapQueueState& q : tap_queues()) EXPECT_EQ(q.header_length, 10);
    for (const auto& [tag, file] : fake.files) {
      if (file.owner) {
        EXPECT_EQ(file.acked, 0u) << tag;
      }
    }
  });
}

// §3.1.1 step 6: what the device does not offer is refused, and the kernel never sees it.
TEST(VhostNetTransport, FeaturesTheDeviceDoesNotOfferAreRefused) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft8", .accept = {}}, 1);
    ASSERT_TRUE(t) << t.error().to_string();
    VhostKernelTransport& v = **t;
    const std::uint8_t ok = virtio::VIRTIO_CONFIG_S_ACKNOWLEDGE | virtio::VIRTIO_CONFIG_S_DRIVER | virtio::VIRTIO_CONFIG_S_FEATURES_OK;
    for (unsigned bit : {24u, 26u, virtio::VIRTIO_F_ACCESS_PLATFORM, 40u, virtio::VIRTIO_F_RING_PACKED, virtio::net::VIRTIO_NET_F_MQ,
                         virtio::net::VIRTIO_NET_F_MAC}) {
      v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1) | feature_bit(bit));
      v.set_status(ok);
      EXPECT_EQ(v.status() & virtio::VIRTIO_CONFIG_S_FEATURES_OK, 0) << bit;
    }
    EXPECT_EQ(fake.count("SET_FEATURES"), 0u);
    // Then the offered ones are taken.
    v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1));
    v.set_status(ok);
    EXPECT_EQ(v.status(), ok);
    EXPECT_EQ(fake.count("SET_FEATURES"), 1u);
  });
}

// A later kernel may offer more: what this transport does not set up stays out of the offer, and
// is never given to the kernel.
TEST(VhostNetTransport, FeaturesALaterKernelAddsAreNotPassedOn) {
  FakeVhostNet fake;
  fake.offered |= feature_bit(virtio::VIRTIO_F_RING_PACKED) | feature_bit(virtio::VIRTIO_F_IN_ORDER) | feature_bit(41) |
                  feature_bit(virtio::net::VIRTIO_NET_F_HASH_REPORT);
  with_fake_vhost_net(fake, [&] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft9", .accept = {}}, 1);
    ASSERT_TRUE(t) << t.error().to_string();
    VhostKernelTransport& v = **t;
    const std::uint64_t f = v.device_features();
    for (unsigned bit : {virtio::VIRTIO_F_RING_PACKED, virtio::VIRTIO_F_IN_ORDER, 41u, virtio::net::VIRTIO_NET_F_HASH_REPORT})
      EXPECT_FALSE(virtio::has_feature(f, bit)) << bit;
    EXPECT_TRUE(virtio::has_feature(f, virtio::VIRTIO_F_VERSION_1));
    EXPECT_TRUE(virtio::has_feature(f, virtio::VIRTIO_F_EVENT_IDX));
  });
}

// §5.1.2: the data queues, then the control queue; nothing past them, none before the rings.
TEST(VhostNetTransport, QueuesThatDoNotExistAreRefused) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft9", .accept = {}}, 2);
    ASSERT_TRUE(t) << t.error().to_string();
    VhostKernelTransport& v = **t;
    // Without MQ only the first pair is there, and without CTRL_VQ no control queue.
    v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1));
    for (std::uint16_t index : {2, 3, 4, 5, 0xffff}) {
      auto r = v.enable_queue(QueueSetup{.index = index, .size = 256, .addresses = {}});
      ASSERT_FALSE(r) << index;
      EXPECT_TRUE(r.error().is(TransportError::BadRequest)) << r.error().message();
      EXPECT_FALSE(v.notify(index)) << index;
    }
    ASSERT_TRUE(v.reset());
    v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1) | feature_bit(virtio::net::VIRTIO_NET_F_MQ) |
                          feature_bit(virtio::net::VIRTIO_NET_F_CTRL_VQ));
    for (std::uint16_t index : {5, 6, 0xffff}) {
      auto r = v.enable_queue(QueueSetup{.index = index, .size = 256, .addresses = {}});
      ASSERT_FALSE(r) << index;
      EXPECT_TRUE(r.error().is(TransportError::BadRequest)) << r.error().message();
    }
    EXPECT_EQ(fake.count("OTHER"), 0u);  // not one ring ioctl for any of them
  });
}

TEST(VhostNetTransport, ResetStopsAndClosesEveryFileAndOpensNewOnes) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    const unsigned fds = open_fds();
    {
      auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft10", .accept = {}}, 2);
      ASSERT_TRUE(t) << t.error().to_string();
      VhostKernelTransport& v = **t;
      const unsigned open = open_fds();
      fake.log.clear();
      ASSERT_TRUE(v.reset());
      EXPECT_EQ(fake.log, (std::vector<std::string>{"RESET_OWNER 1", "RESET_OWNER 2", "SET_OWNER 3", "GET_FEATURES 3",
                                                    "SET_OWNER 4", "GET_FEATURES 4"}));
      EXPECT_EQ(open_files_of("/dev/vhost-net").size(), 2u);
      EXPECT_EQ(open_fds(), open);
      const auto queues = tap_queues();
      ASSERT_EQ(queues.size(), 2u);
      EXPECT_FALSE(queues[0].detached);
      EXPECT_TRUE(queues[1].detached);
    }
    EXPECT_EQ(open_fds(), fds);
  });
}

// revoke_dma(): the kernel lets go of our memory and nothing can be set up until a reset.
TEST(VhostNetTransport, RevokeLetsTheKernelGoAndNothingIsSetUpUntilAReset) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft11", .accept = {}}, 2);
    ASSERT_TRUE(t) << t.error().to_string();
    VhostKernelTransport& v = **t;
    EXPECT_TRUE(v.revoke_dma());
    EXPECT_EQ(fake.count("RESET_OWNER"), 2u);
    EXPECT_TRUE(open_files_of("/dev/vhost-net").empty());
    const std::uint8_t ok = virtio::VIRTIO_CONFIG_S_ACKNOWLEDGE | virtio::VIRTIO_CONFIG_S_DRIVER | virtio::VIRTIO_CONFIG_S_FEATURES_OK;
    v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1));
    v.set_status(ok);
    EXPECT_EQ(v.status() & virtio::VIRTIO_CONFIG_S_FEATURES_OK, 0) << "features taken with no kernel to take them";
    auto r = v.enable_queue(QueueSetup{.index = 0, .size = 256, .addresses = {}});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(TransportError::BackendClosed)) << r.error().message();
    EXPECT_FALSE(v.notify(0));
    EXPECT_TRUE(v.revoke_dma());  // twice: nothing left to let go of
    ASSERT_TRUE(v.reset());
    v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1));
    v.set_status(ok);
    EXPECT_EQ(v.status(), ok);
  });
}

// An error at any step of open() leaves no file, eventfd or tap behind.
TEST(VhostNetTransport, AFailedOpenLeavesNoFileNorTap) {
  for (int failing : {0, 1, 2}) {
    FakeVhostNet fake;
    fake.fail_owner_call = failing;
    with_fake_vhost_net(fake, [&] {
      const unsigned fds = open_fds();
      auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft12", .accept = {}}, 3);
      ASSERT_FALSE(t);
      EXPECT_NE(t.error().message().find("VHOST_SET_OWNER"), std::string::npos) << t.error().message();
      EXPECT_EQ(fake.count("RESET_OWNER"), static_cast<std::size_t>(failing)) << "each owned file's rings stopped";
      EXPECT_TRUE(open_files_of("/dev/vhost-net").empty());
      EXPECT_EQ(::if_nametoindex("nft12"), 0u);
      EXPECT_EQ(open_fds(), fds);
    });
  }
}

// A reset whose second file cannot be owned leaves no file half set up (the first is closed
// too): queue set-up then says the backend is closed (before, it indexed past the end of
// memory_sent_), and a later reset starts over.
TEST(VhostNetTransport, AFailedResetLeavesNoFileHalfSetUp) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    const unsigned fds = open_fds();
    {
      auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft13", .accept = {}}, 2);
      ASSERT_TRUE(t) << t.error().to_string();
      VhostKernelTransport& v = **t;
      fake.fail_owner_call = 3;  // the reset's second
      auto r = v.reset();
      ASSERT_FALSE(r);
      EXPECT_NE(r.error().message().find("VHOST_SET_OWNER"), std::string::npos) << r.error().message();
      EXPECT_TRUE(open_files_of("/dev/vhost-net").empty());
      v.set_driver_features(feature_bit(virtio::VIRTIO_F_VERSION_1));
      v.set_status(virtio::VIRTIO_CONFIG_S_FEATURES_OK);
      EXPECT_EQ(v.status() & virtio::VIRTIO_CONFIG_S_FEATURES_OK, 0);
      auto q = v.enable_queue(QueueSetup{.index = 0, .size = 256, .addresses = {}});
      ASSERT_FALSE(q);
      EXPECT_TRUE(q.error().is(TransportError::BackendClosed)) << q.error().message();
      EXPECT_TRUE(v.revoke_dma());
      ASSERT_TRUE(v.reset());
      EXPECT_EQ(open_files_of("/dev/vhost-net").size(), 2u);
    }
    EXPECT_EQ(open_fds(), fds);
  });
}

// A12: rings whose stop the kernel did not confirm may still be worked: reset fails, and
// revoke says our memory is not ours again, for good.
TEST(VhostNetTransport, RingsNotConfirmedStoppedLeaveTheirMemoryToTheKernel) {
  FakeVhostNet fake;
  with_fake_vhost_net(fake, [&] {
    auto t = VhostKernelTransport::open(VhostNetAddress{.tap_name = "nft14", .accept = {}}, 1);
    ASSERT_TRUE(t) << t.error().to_string();
    VhostKernelTransport& v = **t;
    fake.fail_reset_owner = true;
    auto r = v.reset();
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(TransportError::NoAnswer)) << r.error().message();
    EXPECT_FALSE(v.revoke_dma());
    fake.fail_reset_owner = false;
    EXPECT_FALSE(v.reset());
    EXPECT_FALSE(v.revoke_dma());
  });
}

}  // namespace
}  // namespace netfront::testing
