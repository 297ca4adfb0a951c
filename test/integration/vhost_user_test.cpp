// netfront as a vhost-user frontend against the real peer, dpdk-testpmd with net_vhost, which
// each test starts itself: frames both ways with payload checks across ring layouts and
// features, counts checked against what testpmd counted, a backend killed mid-traffic in
// client mode, a backend restarted five times in server mode, and 100 connect/disconnect
// cycles that must leak neither fds nor buffers.
#include <dirent.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "../unit/open_fds.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/loop_thread.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"
#include "runtime/cross_loop.hpp"
#include "test/support/l4_packet.hpp"
#include "tools/peers/ovs_peer.hpp"
#include "tools/peers/testpmd_peer.hpp"

namespace netfront {
namespace {

using testing::OvsPeer;
using testing::TestpmdPeer;
using namespace std::chrono_literals;

using testing::open_fds;

// One frontend session: a loop, a pool for what we send, what came back.
struct Session {
  EventLoop loop;
  std::optional<PacketPool> pool;
  std::optional<Netif> netif;
  std::vector<std::vector<std::byte>> received;
  std::optional<io<Result<>>> listening;

  explicit Session(LoopConfig config = {}) : loop(config) {
    auto p = PacketPool::create({.size = 4095, .cache = 0});
    EXPECT_TRUE(p);
    pool.emplace(std::move(*p));
  }

  Result<> connect(const std::string& id) {
    auto r = loop.run_until(Netif::connect(id));
    if (!r) return std::move(r).error();
    netif.emplace(std::move(*r));
    listening.emplace(netif->listen([this](Buffer f) {
      auto b = f.bytes();
      received.emplace_back(b.begin(), b.end());
      return make_ready_io();
    }));
    return Ok{};
  }

  // dst, src, EtherType 0x88b5 (local experimental), then a pattern that depends on seed.
  Buffer frame(std::size_t len, unsigned seed) {
    auto b = Buffer::create(pool->get(), len);
    EXPECT_TRUE(b);
    fill(*b, len, seed);
    return std::move(*b);
  }
  static void fill(Buffer& b, std::size_t len, unsigned seed) {
    const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0xbb}, src[6] = {0x02, 0, 0, 0, 0, 0xaa};
    for (int i = 0; i < 6; ++i) b.set_u8(i, dst[i]), b.set_u8(6 + i, src[i]);
    b.set_be16(12, 0x88b5);
    for (std::size_t i = 14; i < len; ++i) b.set_u8(i, static_cast<std::uint8_t>(seed * 13 + i));
  }
  // What macswap sends back: the same frame with the two addresses exchanged.
  static std::vector<std::byte> swapped(std::size_t len, unsigned seed) {
    std::vector<std::byte> v(len);
    const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0xaa}, src[6] = {0x02, 0, 0, 0, 0, 0xbb};
    for (int i = 0; i < 6; ++i) v[i] = std::byte{dst[i]}, v[6 + i] = std::byte{src[i]};
    v[12] = std::byte{0x88};
    v[13] = std::byte{0xb5};
    for (std::size_t i = 14; i < len; ++i) v[i] = static_cast<std::byte>(static_cast<std::uint8_t>(seed * 13 + i));
    return v;
  }

  bool run_until_received(std::size_t n, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (received.size() < n && std::chrono::steady_clock::now() < deadline)
      for (int i = 0; i < 1000; ++i) loop.run_once();
    return received.size() >= n;
  }
  void run_for(std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline)
      for (int i = 0; i < 1000; ++i) loop.run_once();
  }
  // A backend brings its queues up one by one after the handshake: testpmd may take frames
  // from one before it can send on the other, and drops what it cannot send. So before
  // checking anything byte for byte, wait until a probe frame comes back, then start clean.
  bool wait_for_echo_path(std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (received.empty() && std::chrono::steady_clock::now() < deadline) {
      (void)netif->write(frame(64, 0xee));
      run_for(20ms);
    }
    const bool ok = !received.empty();
    run_for(50ms);  // let the last probes come back too
    received.clear();
    netif->reset_stats_counters();
    return ok;
  }

  Result<> send(Buffer f, unsigned queue = 0) {
    io<Result<>> w = netif->queue(queue).write(std::move(f));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (w.pending() && std::chrono::steady_clock::now() < deadline) loop.run_once();
    if (w.pending()) return Error::unknown("write still waiting after 5 s");
    return w.get();
  }
};

class VhostUserEchoTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    peer_.emplace(TestpmdPeer::Options{.socket = dir_ + "/vh.sock", .mode = "macswap"});
    ASSERT_EQ(peer_->error(), "");
  }
  void TearDown() override {
    if (peer_) {
      peer_->stop();
      if (HasFailure()) {  // the peer's side of the story
        const std::string log = peer_->log();
        std::cerr << "---- dpdk-testpmd log (last 4000 bytes) ----\n"
                  << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
      }
    }
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::optional<TestpmdPeer> peer_;
};

TEST_P(VhostUserEchoTest, FramesOfEverySizeComeBackMacSwapped) {
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + dir_ + "/vh.sock" + GetParam()));
  ASSERT_TRUE(s.netif->link_up());
  ASSERT_TRUE(s.wait_for_echo_path()) << "testpmd never echoed a probe frame";
  const std::vector<std::size_t> sizes{64, 65, 128, 256, 511, 512, 1000, 1024, 1280, 1400, 1500, 1514};
  unsigned seed = 0;
  for (std::size_t len : sizes) ASSERT_TRUE(s.send(s.frame(len, seed++)));
  ASSERT_TRUE(s.run_until_received(sizes.size())) << "got " << s.received.size();
  for (std::size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(s.received[i], Session::swapped(sizes[i], static_cast<unsigned>(i))) << "frame of " << sizes[i];

  // writev: 2 to 16 pieces make one frame.
  s.received.clear();
  for (unsigned pieces = 2; pieces <= 16; ++pieces) {
    const std::size_t len = 60 + pieces * 50;
    Buffer whole = s.frame(len, 100 + pieces);
    std::vector<Buffer> parts;
    std::size_t at = 0;
    for (unsigned p = 0; p < pieces; ++p) {
      const std::size_t n = p + 1 == pieces ? len - at : len / pieces;
      parts.push_back(whole.sub(at, n));
      at += n;
    }
    io<Result<>> w = s.netif->writev(parts);
    while (w.pending()) s.loop.run_once();
    ASSERT_TRUE(w.get()) << pieces;
  }
  ASSERT_TRUE(s.run_until_received(15));
  for (unsigned pieces = 2; pieces <= 16; ++pieces)
    EXPECT_EQ(s.received[pieces - 2], Session::swapped(60 + pieces * 50, 100 + pieces)) << pieces << " pieces";

  const Stats st = s.netif->get_stats_counters();
  EXPECT_EQ(st.tx_pkts, sizes.size() + 15);
  EXPECT_EQ(st.rx_pkts, sizes.size() + 15);
  EXPECT_EQ(st.device_errors, 0u);
  s.loop.run_until(s.netif->disconnect());
  s.received.clear();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Features, VhostUserEchoTest,
    ::testing::Values("", ",in_order=off", ",mrg_rxbuf=off", ",mrg_rxbuf=off,in_order=off", ",packed=off",
                      ",packed=off,in_order=off", ",packed=off,mrg_rxbuf=off", ",packed=off,mrg_rxbuf=off,in_order=off",
                      // writev chains as direct descriptor chains (by default they go indirect)
                      ",indirect=off", ",packed=off,indirect=off"),
    [](const auto& info) {
      std::string n = info.param.empty() ? "all_offered" : info.param.substr(1);
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

// One backend per test, in its own directory, removed afterwards.
class VhostUserTest : public ::testing::Test {
 protected:
  void TearDown() override {
    peer_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Starts testpmd in `mode` and connects a session to it.
  void start(const std::string& mode, Session& s, const std::string& id_options = "") {
    peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = mode});
    ASSERT_EQ(peer_->error(), "");
    ASSERT_TRUE(s.connect("vhost-user:" + socket() + id_options));
  }
  std::string socket() const { return dir_ + "/vh.sock"; }
  std::string dir_ = testing::make_temp_dir();
  std::optional<TestpmdPeer> peer_;
};

TEST_F(VhostUserTest, EveryFrameWrittenReachesAnRxonlyPeer) {
  Session s;
  start("rxonly", s);
  TestpmdPeer& peer = *peer_;
  constexpr unsigned kFrames = 20000;
  for (unsigned i = 0; i < kFrames; ++i) ASSERT_TRUE(s.send(s.frame(64 + i % 1000, i))) << i;
  s.run_for(500ms);
  EXPECT_EQ(s.netif->get_stats_counters().tx_pkts, kFrames);
  s.loop.run_until(s.netif->disconnect());
  peer.stop();
  EXPECT_EQ(peer.rx_packets(), kFrames) << peer.log();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

// A vhost-user backend filters nothing and netfront serves the control queue itself: no
// receive filter is offered (whatever the backend's features say), even with vlan_filter asked;
// the MAC, netfront's own, changes without the backend.
TEST_F(VhostUserTest, ReceiveFiltersAreUnimplementedAndTheMacIsNetfrontsOwn) {
  Session s;
  start("rxonly", s, ",vlan_filter");
  for (RxMode m : {RxMode::Promiscuous, RxMode::AllMulticast, RxMode::NoBroadcast}) {
    auto r = s.loop.run_until(s.netif->set_rx_mode(m, false));
    ASSERT_FALSE(r) << to_string(m);
    EXPECT_EQ(r.error().kind(), Error::Kind::Unimplemented) << to_string(m);
  }
  const std::array<MacAddress, 1> group{MacAddress{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}}};
  EXPECT_EQ(s.loop.run_until(s.netif->set_mac_filter({}, group)).error().kind(), Error::Kind::Unimplemented);
  EXPECT_EQ(s.loop.run_until(s.netif->add_vlan(10)).error().kind(), Error::Kind::Unimplemented);
  const MacAddress mine{{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}};
  ASSERT_TRUE(s.loop.run_until(s.netif->set_mac(mine)));
  EXPECT_EQ(s.netif->mac(), mine);
  ASSERT_TRUE(s.send(s.frame(64, 1)));
  s.run_for(200ms);
  s.loop.run_until(s.netif->disconnect());
  peer_->stop();
  EXPECT_EQ(peer_->rx_packets(), 1u) << peer_->log();
}

// VIRTIO_NET_F_CSUM against DPDK's vhost library, which completes a partial checksum in
// software when its port does not hand checksums on: a frame sent with its checksum left to the
// device comes back from testpmd (io) with the checksum right; the same frame sent without the
// request comes back as it left, its checksum field still the pseudo-header's sum only.
TEST_F(VhostUserTest, ChecksumsLeftToTheBackendAreCompletedByIt) {
  Session s;
  start("io", s, ",offloads=csum");
  ASSERT_TRUE(s.netif->offloads().tx_checksum) << "DPDK's vhost library offers VIRTIO_NET_F_CSUM";
  ASSERT_TRUE(s.wait_for_echo_path()) << "testpmd never echoed a probe frame";
  using testing::Packet;
  for (const Packet& p : {Packet{.payload = 1000}, Packet{.ipv6 = true, .payload = 1400}, Packet{.udp = true, .payload = 1},
                          Packet{.ipv6 = true, .udp = true, .payload = 333}}) {
    s.received.clear();
    const std::vector<std::byte> f = p.bytes();
    for (bool offloaded : {true, false}) {
      auto b = Buffer::copy_from(s.pool->get(), f);
      ASSERT_TRUE(b);
      io<Result<>> w = offloaded ? s.netif->write(std::move(*b), p.checksum_only()) : s.netif->write(std::move(*b));
      while (w.pending()) s.loop.run_once();
      ASSERT_TRUE(w.get());
      ASSERT_TRUE(s.run_until_received(offloaded ? 1 : 2));
    }
    const auto& completed = s.received[0];
    ASSERT_EQ(completed.size(), f.size());
    EXPECT_TRUE(p.checksum_ok(completed)) << "the backend completed the checksum of a " << f.size() << "-byte frame";
    std::vector<std::byte> only_the_checksum_differs = completed;
    const std::size_t at = p.l4() + p.check_offset();
    only_the_checksum_differs[at] = f[at];
    only_the_checksum_differs[at + 1] = f[at + 1];
    EXPECT_EQ(only_the_checksum_differs, f);
    EXPECT_EQ(s.received[1], f) << "without the request the frame is passed on as it is";
    EXPECT_FALSE(p.checksum_ok(s.received[1]));
  }
  EXPECT_EQ(s.netif->get_stats_counters().device_errors, 0u);
  s.loop.run_until(s.netif->disconnect());
  s.received.clear();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

// TCP segmentation offload against DPDK's vhost library (tso=1), seen from the peer's side:
// testpmd forwards every frame its vhost port receives into a capture file and prints the
// flags the library set on it. A super-frame of each kind (TCP over IPv4 and IPv6, 64 KiB, in
// pieces) arrives whole: its length, its bytes as sent (net_pcap keeps the first 16128), the
// library's mark of a segmentation request (RX_LRO: a GSO type it knows), and the checksum
// its port completed over all of it (it completes what NEEDS_CSUM asks) matching the one
// computed here from what was sent. A checksum-only frame and a plain one beside them.
// The library takes only the flag and the GSO type from the header and finds the checksum by
// parsing the frame, and testpmd does not print the segment size: the QEMU guest test checks
// those, in the segments a real device cuts.
TEST_F(VhostUserTest, SegmentationRequestsReachTheBackendWholeWithTheirChecksumsCompleted) {
  const std::string capture = dir_ + "/out.pcap";
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "io", .vhost_args = "tso=1", .capture = capture});
  ASSERT_EQ(peer_->error(), "");
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + socket() + ",offloads=csum+tso4+tso6"));
  ASSERT_TRUE(s.netif->offloads().tso4 && s.netif->offloads().tso6) << "DPDK's vhost library offers HOST_TSO4/6 with tso=1";
  using testing::Packet;
  struct Sent {
    Packet p;
    std::optional<TxOffload> offload;
  };
  const std::vector<Sent> sent = {{Packet{.payload = 64000}, Packet{.payload = 64000}.segmented(1448)},
                                  {Packet{.ipv6 = true, .payload = 65000}, Packet{.ipv6 = true, .payload = 65000}.segmented(1440)},
                                  {Packet{.udp = true, .payload = 1200}, Packet{.udp = true, .payload = 1200}.checksum_only()},
                                  {Packet{.payload = 500}, std::nullopt}};
  for (const Sent& x : sent) {
    const std::vector<std::byte> f = x.p.bytes();
    std::vector<Buffer> pieces;
    for (std::size_t at = 0; at < f.size(); at += 2000) {
      auto b = Buffer::copy_from(s.pool->get(), std::span(f).subspan(at, std::min<std::size_t>(2000, f.size() - at)));
      ASSERT_TRUE(b);
      pieces.push_back(std::move(*b));
    }
    io<Result<>> w = x.offload ? s.netif->writev(pieces, *x.offload) : s.netif->writev(pieces);
    while (w.pending()) s.loop.run_once();
    ASSERT_TRUE(w.get()) << f.size();
  }
  // Until the backend has taken all four (their buffers come back), then its capture closes.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (s.netif->get_stats_counters().tx_pkts < sent.size() && std::chrono::steady_clock::now() < deadline) s.run_for(10ms);
  s.run_for(200ms);
  s.loop.run_until(s.netif->disconnect());
  EXPECT_EQ(s.pool->in_use(), 0u);
  peer_->stop();

  const auto frames = peer_->captured();
  const auto flags = peer_->received_flags();
  ASSERT_EQ(frames.size(), sent.size()) << peer_->log().substr(0, 4000);
  ASSERT_EQ(flags.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const Packet& p = sent[i].p;
    const std::vector<std::byte> f = p.bytes();
    ASSERT_EQ(frames[i].length, f.size()) << "frame " << i;
    const auto& got = frames[i].bytes;
    ASSERT_EQ(got.size(), std::min<std::size_t>(f.size(), 16128)) << "frame " << i;
    std::vector<std::byte> expected = f;
    if (sent[i].offload) {
      // The whole frame's checksum, computed here: what the backend must have written.
      const std::size_t at = p.l4() + p.check_offset();
      const std::uint16_t complete = static_cast<std::uint16_t>(~testing::side::fold(testing::side::ones_sum(std::span(f).subspan(p.l4()))));
      testing::put16(expected, at, complete);
      ASSERT_TRUE(p.checksum_ok(expected));
      EXPECT_NE(flags[i].find("RTE_MBUF_F_RX_L4_CKSUM_GOOD"), std::string::npos) << i << ": " << flags[i];
    }
    expected.resize(got.size());
    EXPECT_TRUE(got == expected) << "frame " << i << " differs from what was sent";
    const bool segmented = sent[i].offload && sent[i].offload->gso != Gso::None;
    EXPECT_EQ(flags[i].find("RTE_MBUF_F_RX_LRO") != std::string::npos, segmented) << i << ": " << flags[i];
  }
  EXPECT_EQ(s.netif->get_stats_counters().device_errors, 0u);
}

// A vhost-user backend says no MTU: the id's mtu=9000 makes 9000-byte frames go out and come
// back through testpmd (io) byte for byte, beside small ones.
TEST_F(VhostUserTest, JumboFramesGoBothWaysWithTheIdsMtu) {
  Session s;
  start("io", s, ",mtu=9000");
  ASSERT_EQ(s.netif->mtu(), 9000);
  ASSERT_TRUE(s.wait_for_echo_path()) << "testpmd never echoed a probe frame";
  std::vector<std::vector<std::byte>> sent;
  for (unsigned i = 0; i < 20; ++i) {
    const std::size_t len = i % 2 ? 9014 - i : 64 + i;
    std::vector<Buffer> pieces;
    std::vector<std::byte> whole;
    for (std::size_t at = 0; at < len; at += 2000) {
      const std::size_t n = std::min<std::size_t>(2000, len - at);
      Buffer b = s.frame(n, i * 7 + static_cast<unsigned>(at));
      if (at > 0) b.set_be16(12, static_cast<std::uint16_t>(0x1000 + at));  // only the first piece is a header
      whole.insert(whole.end(), b.bytes().begin(), b.bytes().end());
      pieces.push_back(std::move(b));
    }
    io<Result<>> w = s.netif->writev(pieces);
    while (w.pending()) s.loop.run_once();
    ASSERT_TRUE(w.get()) << len;
    sent.push_back(std::move(whole));
  }
  ASSERT_TRUE(s.run_until_received(sent.size())) << "got " << s.received.size();
  for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(s.received[i], sent[i]) << "frame " << i << " of " << sent[i].size();
  const Stats st = s.netif->get_stats_counters();
  EXPECT_EQ(st.rx_length_errors, 0u);
  EXPECT_EQ(st.device_errors, 0u);
  s.loop.run_until(s.netif->disconnect());
  s.received.clear();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

// A loop allowed to sleep sleeps in epoll_wait between frames, with used-buffer notifications
// on; the backend's write to the call eventfd is what wakes it when the echo comes back (no
// timer runs while a frame is on its way, and the control socket is quiet).
TEST_F(VhostUserTest, ASleepingLoopIsWokenByTheBackendsNotifications) {
  Session s(LoopConfig{.idle = IdleMode::Sleep, .idle_polls_before_sleep = 1});
  bool watchdog_fired = false;
  Timer watchdog(s.loop, [&] { watchdog_fired = true; });
  watchdog.arm_periodic(1ms);  // while the echo path comes up, probes must not wait on a long sleep
  start("macswap", s);
  ASSERT_TRUE(s.wait_for_echo_path()) << "testpmd never echoed a probe frame";
  watchdog.cancel();

  constexpr unsigned kRounds = 50;
  const std::uint64_t sleeps_before = s.loop.counters().sleeps;
  for (unsigned round = 0; round < kRounds; ++round) {
    watchdog_fired = false;
    watchdog.arm(5s);  // only a lost wake-up could take this long
    (void)s.netif->write(s.frame(100, round));
    while (s.received.size() <= round && !watchdog_fired) s.loop.run_once();
    ASSERT_FALSE(watchdog_fired) << "round " << round << ": the echo never woke the loop";
    watchdog.cancel();
    EXPECT_EQ(s.received[round], Session::swapped(100, round));
  }
  EXPECT_GT(s.loop.counters().sleeps, sleeps_before) << "the loop never slept between frames";
  const Stats st = s.netif->get_stats_counters();
  EXPECT_EQ(st.rx_pkts, kRounds);
  EXPECT_EQ(st.device_errors, 0u);
  s.loop.run_until(s.netif->disconnect());
  s.received.clear();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

// The same on a queue pair handed to a loop thread of its own that may sleep: the backend's
// notifications on that pair's call eventfds wake that loop.
TEST_F(VhostUserTest, AHandedOverPairsSleepingLoopIsWokenByItsNotifications) {
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "macswap", .queues = 2});
  ASSERT_EQ(peer_->error(), "");
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + socket() + ",queues=2"));
  LoopThreadOptions o;
  o.loop = LoopConfig{.idle = IdleMode::Sleep, .idle_polls_before_sleep = 1};
  auto worker = LoopThread::start(o);
  ASSERT_TRUE(worker) << worker.error().to_string();
  EventLoop& wl = (*worker)->loop();
  ASSERT_TRUE(s.netif->queue(1).run_on(wl));
  // Everything about pair 1 happens on the worker: listen, writes, and the count.
  std::atomic<unsigned> echoed{0};
  std::atomic<bool> listening{false};
  std::optional<io<Result<>>> listen;
  wl.post([&] {
    listen.emplace(s.netif->queue(1).listen([&](Buffer f) {
      if (f.bytes().size() == 100) echoed.fetch_add(1);
      return make_ready_io();
    }));
    listening = true;
  });
  while (!listening) std::this_thread::yield();
  auto send_on_worker = [&](unsigned seed) {
    wl.post([&s, seed] { (void)s.netif->queue(1).write(s.frame(100, seed)); });
  };
  // The echo path first (the backend brings its queues up one by one).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (echoed == 0 && std::chrono::steady_clock::now() < deadline) {
    send_on_worker(0xee);
    s.run_for(20ms);
  }
  ASSERT_GT(echoed.load(), 0u) << "no echo on the handed-over pair";
  s.run_for(50ms);
  const unsigned base = echoed;
  // The worker's own counters, read on the worker.
  auto worker_sleeps = [&] {
    std::uint64_t n = 0;
    s.loop.run_until(runtime::call_on(wl, [&] { n = wl.counters().sleeps; }));
    return n;
  };
  const std::uint64_t sleeps_before = worker_sleeps();
  for (unsigned round = 0; round < 30; ++round) {
    send_on_worker(round);
    const auto limit = std::chrono::steady_clock::now() + 5s;
    while (echoed < base + round + 1 && std::chrono::steady_clock::now() < limit) s.run_for(1ms);
    ASSERT_EQ(echoed.load(), base + round + 1) << "round " << round << ": the echo never woke the pair's loop";
  }
  EXPECT_GT(worker_sleeps(), sleeps_before) << "the pair's loop never slept between frames";
  s.loop.run_until(s.netif->disconnect());
  wl.post([&] { listen.reset(); });
  worker->reset();  // joins the thread
  s.received.clear();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

TEST_F(VhostUserTest, FramesFromATxonlyPeerAreDelivered) {
  Session s;
  start("txonly", s);
  ASSERT_TRUE(s.run_until_received(5000)) << "received " << s.received.size();
  // testpmd's default txonly frame, every one the same: 64 bytes of IPv4/UDP.
  std::size_t other = 0;
  for (const auto& f : s.received) other += f != s.received[0];
  EXPECT_EQ(other, 0u);
  ASSERT_EQ(s.received[0].size(), 64u);
  EXPECT_EQ(s.received[0][12], std::byte{0x08});
  EXPECT_EQ(s.received[0][13], std::byte{0x00});
  EXPECT_EQ(s.netif->get_stats_counters().device_errors, 0u);
  s.loop.run_until(s.netif->disconnect());
}

// C1, C4 against a real backend: frames longer than the MTU (1500: vhost-user offers no MTU
// feature) come spread over several mergeable buffers, and each is dropped whole, its later
// buffers with it; the 64-byte frames between them arrive intact. testpmd's txonly sends each
// frame as one or two segments at random (txsplit rand over txpkts 64,8936): 64 or 9000 bytes.
TEST_F(VhostUserTest, JumboFramesFromThePeerAreDroppedWholeAndTheRestArriveIntact) {
  const std::string commands = dir_ + "/jumbo.cmd";
  {
    std::ofstream f(commands);
    f << "set txpkts 64,8936\nset txsplit rand\n";
  }
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "txonly",
                                     .extra = {"--mbuf-size=10240", "--cmdline-file=" + commands}});
  ASSERT_EQ(peer_->error(), "");
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + socket()));
  ASSERT_TRUE(s.run_until_received(5000)) << "received " << s.received.size() << "\n" << peer_->log();
  const Stats st = s.netif->get_stats_counters();
  s.loop.run_until(s.netif->disconnect());
  ASSERT_FALSE(s.received.empty());
  const std::vector<std::byte> first = s.received[0];
  ASSERT_EQ(first.size(), 64u);
  std::size_t other = 0;
  for (const auto& f : s.received) other += f != first;  // every frame testpmd's 64-byte one
  EXPECT_EQ(other, 0u) << "frames that are not the 64-byte frame the peer sends";
  EXPECT_GT(st.rx_length_errors, 100u) << "no jumbo frame was seen to be dropped\n" << peer_->log();
  EXPECT_EQ(st.rx_drops, st.rx_length_errors);  // every drop a jumbo frame, and whole
  EXPECT_EQ(st.device_errors, 0u);
  EXPECT_EQ(st.rx_pkts, s.received.size());
}

// --- multi-queue: testpmd's vhost port with two queue pairs, each a stream of its own

TEST_F(VhostUserTest, EachQueuePairsFramesAreCountedOnThatQueueByThePeer) {
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "rxonly", .queues = 2});
  ASSERT_EQ(peer_->error(), "");
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + socket() + ",queues=2"));
  ASSERT_EQ(s.netif->queue_pairs(), 2u);
  constexpr unsigned kFrames[2] = {3000, 5000};
  for (unsigned q = 0; q < 2; ++q)
    for (unsigned i = 0; i < kFrames[q]; ++i) ASSERT_TRUE(s.send(s.frame(64 + i % 500, i), q)) << q << "/" << i;
  s.run_for(500ms);
  for (unsigned q = 0; q < 2; ++q) EXPECT_EQ(s.netif->queue(q).get_stats_counters().tx_pkts, kFrames[q]);
  s.loop.run_until(s.netif->disconnect());
  peer_->stop();
  for (unsigned q = 0; q < 2; ++q) EXPECT_EQ(peer_->queue_rx_packets(q), kFrames[q]) << "queue " << q << "\n" << peer_->log();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

class VhostUserMultiQueueTest : public VhostUserTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(VhostUserMultiQueueTest, FramesComeBackOnTheQueuePairTheyWentOutOn) {
  constexpr unsigned Q = 2;
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "macswap", .queues = Q});
  ASSERT_EQ(peer_->error(), "");
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + socket() + ",queues=2" + GetParam()));
  std::vector<std::vector<std::byte>> got[2];
  std::vector<io<Result<>>> listens;
  for (unsigned q = 0; q < Q; ++q)
    listens.push_back(s.netif->queue(q).listen([&got, q](Buffer f) {
      got[q].emplace_back(f.bytes().begin(), f.bytes().end());
      return make_ready_io();
    }));
  // Both streams up before counting (see wait_for_echo_path).
  for (unsigned q = 0; q < Q; ++q) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (got[q].empty() && std::chrono::steady_clock::now() < deadline) {
      (void)s.netif->queue(q).write(s.frame(64, 0xee));
      s.run_for(20ms);
    }
    ASSERT_FALSE(got[q].empty()) << "no echo on queue " << q;
  }
  s.run_for(50ms);
  for (auto& g : got) g.clear();
  s.netif->reset_stats_counters();
  constexpr unsigned kFrames = 2000;
  // In bursts of 100 per queue, each echoed before the next: the peer drops what finds our
  // receive ring full, and a sender that never lets its loop poll would fill it.
  const auto all_back = [&](std::size_t n) {
    for (unsigned q = 0; q < Q; ++q)
      if (got[q].size() < n) return false;
    return true;
  };
  for (unsigned i = 0; i < kFrames; ++i) {
    for (unsigned q = 0; q < Q; ++q) ASSERT_TRUE(s.send(s.frame(60 + (i * 7 + q * 300) % 1400, i * 2 + q), q));
    if ((i + 1) % 100 != 0) continue;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!all_back(i + 1) && std::chrono::steady_clock::now() < deadline)
      for (int k = 0; k < 100; ++k) s.loop.run_once();
  }
  for (unsigned q = 0; q < Q; ++q) {
    const Stats st = s.netif->queue(q).get_stats_counters();
    EXPECT_EQ(got[q].size(), kFrames) << "queue " << q << ": tx " << st.tx_pkts << " rx " << st.rx_pkts << " rx_drops "
                                      << st.rx_drops << " tx_ring_full " << st.tx_ring_full;
  }
  for (unsigned q = 0; q < Q; ++q) {
    ASSERT_EQ(got[q].size(), kFrames) << "queue " << q;
    for (unsigned i = 0; i < kFrames; ++i)
      ASSERT_EQ(got[q][i], Session::swapped(60 + (i * 7 + q * 300) % 1400, i * 2 + q)) << "queue " << q << " frame " << i;
    const Stats st = s.netif->queue(q).get_stats_counters();
    EXPECT_EQ(st.tx_pkts, kFrames);
    EXPECT_EQ(st.rx_pkts, kFrames);
    EXPECT_EQ(st.device_errors, 0u);
  }
  s.loop.run_until(s.netif->disconnect());
  for (auto& g : got) g.clear();
  EXPECT_EQ(s.pool->in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Layouts, VhostUserMultiQueueTest, ::testing::Values("", ",packed=off", ",packed=off,in_order=off"),
                         [](const auto& info) {
                           std::string n = info.param.empty() ? "default" : info.param.substr(1);
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// The backend's GET_QUEUE_NUM is the limit (DPDK's vhost library reports 128 pairs whatever
// the port uses); more than that is refused before any ring is set up.
TEST_F(VhostUserTest, MoreQueuePairsThanTheBackendReportsIsAClearError) {
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "io", .queues = 2});
  ASSERT_EQ(peer_->error(), "");
  EventLoop loop;
  auto r = loop.run_until(Netif::connect("vhost-user:" + socket() + ",queues=1000"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("1000 queue pairs asked for, but the device has at most"), std::string::npos)
      << r.error().to_string();
}

TEST_F(VhostUserTest, BackendKilledMidTrafficGivesDisconnectedAndCleanShutdown) {
  Session s;
  start("macswap", s);
  for (unsigned i = 0; i < 2000; ++i) ASSERT_TRUE(s.send(s.frame(200, i)));
  peer_->kill_hard();  // F1: gone mid-traffic, no goodbye
  bool saw_disconnected = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (unsigned i = 0; !saw_disconnected && std::chrono::steady_clock::now() < deadline; ++i) {
    io<Result<>> w = s.netif->write(s.frame(200, i));
    for (int k = 0; k < 100; ++k) s.loop.run_once();
    if (w.ready()) {
      Result<> r = w.get();
      saw_disconnected = !r && r.error().is_disconnected();
    }
  }
  EXPECT_TRUE(saw_disconnected);
  EXPECT_FALSE(s.netif->link_up());
  s.loop.run_until(s.netif->disconnect());
  s.received.clear();
  s.run_for(50ms);
  EXPECT_EQ(s.pool->in_use(), 0u);
}

// The application hears of a backend that went away as a link event it awaits, not only as
// failed writes. A vhost-user backend says nothing of speed and duplex (unknown), and is not
// asked for announcements (it sends its own RARP when told to, VHOST_USER_SEND_RARP).
TEST_F(VhostUserTest, ABackendThatGoesAwayIsALinkDownEvent) {
  Session s;
  start("io", s);
  const LinkStatus up = s.netif->link_status();
  EXPECT_TRUE(up.up);
  EXPECT_EQ(up.speed_mbps, 0u);
  EXPECT_EQ(up.duplex, Duplex::Unknown);
  io<Result<LinkStatus>> w = s.netif->link_change(up);
  s.run_for(50ms);
  EXPECT_FALSE(w.ready());
  peer_->kill_hard();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!w.ready() && std::chrono::steady_clock::now() < deadline) s.loop.run_once();
  ASSERT_TRUE(w.ready()) << "no link event after the backend died";
  Result<LinkStatus> down = w.get();
  ASSERT_TRUE(down) << down.error().to_string();
  EXPECT_FALSE(down->up);
  EXPECT_FALSE(s.netif->link_up());
  s.loop.run_until(s.netif->disconnect());
}

TEST_F(VhostUserTest, ServerModeSurvivesFiveBackendRestarts) {
  const std::string sock = socket();
  std::optional<TestpmdPeer>& peer = peer_;
  peer.emplace(TestpmdPeer::Options{.socket = sock, .mode = "macswap", .client = true});
  ASSERT_EQ(peer->error(), "");
  Session s;
  ASSERT_TRUE(s.connect("vhost-user:" + sock + ",server"));
  for (int round = 0; round < 6; ++round) {
    // Traffic flows...
    const std::size_t before = s.received.size();
    bool ok = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!ok && std::chrono::steady_clock::now() < deadline) {
      (void)s.netif->write(s.frame(100, static_cast<unsigned>(round)));
      s.run_for(20ms);
      ok = s.received.size() > before;
    }
    ASSERT_TRUE(ok) << "no traffic after restart " << round;
    EXPECT_EQ(s.received.back(), Session::swapped(100, static_cast<unsigned>(round)));
    if (round == 5) break;
    // ...until the backend dies (F6/F7: frames in flight are dropped, nothing leaks) and
    // comes back as a new process.
    peer->kill_hard();
    s.run_for(300ms);
    EXPECT_FALSE(s.netif->link_up());
    peer.emplace(TestpmdPeer::Options{.socket = sock, .mode = "macswap", .client = true});
    ASSERT_EQ(peer->error(), "");
  }
  EXPECT_GE(s.netif->get_stats_counters().rx_pkts, 6u);
  s.loop.run_until(s.netif->disconnect());
  s.received.clear();
  s.run_for(50ms);
  EXPECT_EQ(s.pool->in_use(), 0u);
}

TEST_F(VhostUserTest, HundredConnectDisconnectCyclesLeakNoFdsOrBuffers) {
  peer_.emplace(TestpmdPeer::Options{.socket = socket(), .mode = "macswap"});
  ASSERT_EQ(peer_->error(), "");
  Session s;
  auto cycle = [&](unsigned i) {
    auto r = s.loop.run_until(Netif::connect("vhost-user:" + socket()));
    ASSERT_TRUE(r) << i << ": " << r.error().to_string();
    ASSERT_TRUE(s.loop.run_until(r->write(s.frame(64, i))));
    s.loop.run_until(r->disconnect());
  };
  cycle(0);  // the first connect sizes DPDK's and the loop's tables
  const unsigned fds = open_fds();
  const unsigned mbufs = s.pool->in_use();
  for (unsigned i = 1; i <= 100; ++i) cycle(i);
  EXPECT_EQ(open_fds(), fds);
  EXPECT_EQ(s.pool->in_use(), mbufs);
}

// --- OVS-DPDK (Debian's openvswitch-switch-dpdk) as the peer: two netfront instances on one
// bridge of its userspace datapath, one on each kind of port: a dpdkvhostuser port (OVS the
// server, netfront the client) and a dpdkvhostuserclient port (netfront the server). Frames
// cross the switch both ways byte for byte; then ovs-vswitchd restarts while frames are being
// sent, both frontends reconnect (the client by retrying the socket, the server by accepting
// OVS again), traffic resumes byte for byte, and nothing leaks.
class OvsDpdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ovs_.emplace();
    ASSERT_EQ(ovs_->error(), "");
    ASSERT_EQ(ovs_->add_bridge("br0"), "");
    ASSERT_EQ(ovs_->add_server_port("br0", "vhu0"), "");
    ASSERT_EQ(ovs_->add_client_port("br0", "vhc1", server_socket()), "");
  }
  void TearDown() override {
    if (ovs_ && HasFailure()) {
      const std::string log = ovs_->log();
      std::cerr << "---- ovs-vswitchd log (last 6000 bytes) ----\n" << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << "\n";
    }
    ovs_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string server_socket() const { return dir_ + "/nf1.sock"; }

  // Both loops turn for `d`.
  static void pump(Session& a, Session& b, std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline)
      for (int i = 0; i < 500; ++i) a.loop.run_once(), b.loop.run_once();
  }
  // A frame from `from` to `to` (02:..:aa and 02:..:bb): the switch learns where each is.
  static Buffer frame(Session& s, std::size_t len, unsigned seed, bool a_to_b) {
    Buffer b = s.frame(len, seed);
    if (!a_to_b)
      for (int i = 0; i < 6; ++i) b.set_u8(i, i == 5 ? 0xaa : (i == 0 ? 2 : 0)), b.set_u8(6 + i, i == 5 ? 0xbb : (i == 0 ? 2 : 0));
    return b;
  }
  // Probes from `from` until one reaches `to` (the switch's ports come up one by one), then
  // both start clean.
  static bool path_open(Session& from, Session& to, bool a_to_b, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (to.received.empty() && std::chrono::steady_clock::now() < deadline) {
      (void)from.netif->write(frame(from, 64, 0xee, a_to_b));
      pump(from, to, 20ms);
    }
    const bool ok = !to.received.empty();
    pump(from, to, 100ms);
    from.received.clear();
    to.received.clear();
    return ok;
  }
  // `n` frames of 60 to 1514 bytes from `from`, each arriving at `to` exactly as sent, in order.
  // At most a burst is in flight: OVS drops what finds no free buffer in `to`'s receive ring
  // (as a switch should), and on a loaded machine its forwarding thread may take a ring's
  // worth at once; a switch that drops nothing here must still deliver everything.
  static void expect_crossing(Session& from, Session& to, bool a_to_b, unsigned n, unsigned seed0) {
    constexpr unsigned kInFlight = 32;
    std::vector<std::vector<std::byte>> sent;
    for (unsigned i = 0; i < n; ++i) {
      const auto in_flight = [&] { return i > to.received.size() ? i - to.received.size() : 0; };
      const auto wait_until = std::chrono::steady_clock::now() + 10s;
      while (in_flight() >= kInFlight && std::chrono::steady_clock::now() < wait_until) pump(from, to, 1ms);
      ASSERT_LT(in_flight(), kInFlight) << "frames " << to.received.size() << " to " << i << " did not cross in 10 s";
      const std::size_t len = 60 + (i * 211u) % 1455u;
      Buffer f = frame(from, len, seed0 + i, a_to_b);
      const auto bytes = f.bytes();
      sent.emplace_back(bytes.begin(), bytes.end());
      io<Result<>> w = from.netif->write(std::move(f));
      while (w.pending()) from.loop.run_once(), to.loop.run_once();
      ASSERT_TRUE(w.get()) << i;
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (to.received.size() < n && std::chrono::steady_clock::now() < deadline) pump(from, to, 10ms);
    ASSERT_EQ(to.received.size(), n) << (a_to_b ? "a to b" : "b to a");
    for (unsigned i = 0; i < n; ++i) EXPECT_EQ(to.received[i], sent[i]) << "frame " << i << (a_to_b ? " a to b" : " b to a");
    from.received.clear();
    to.received.clear();
  }

  std::string dir_ = testing::make_temp_dir();
  std::optional<OvsPeer> ovs_;
};

TEST_F(OvsDpdkTest, FramesCrossTheSwitchBothWaysByteForByteAndSurviveItsRestart) {
  {
    Session a, b;
    // OVS retries its client port's socket once a second: the server is up before long.
    ASSERT_TRUE(b.connect("vhost-user:" + server_socket() + ",server"));
    ASSERT_TRUE(a.connect("vhost-user:" + ovs_->dir() + "/vhu0"));
    ASSERT_TRUE(path_open(a, b, true)) << "no frame crossed the switch from a to b";
    ASSERT_TRUE(path_open(b, a, false)) << "no frame crossed the switch from b to a";
    expect_crossing(a, b, true, 500, 0);
    expect_crossing(b, a, false, 500, 1000);
    const unsigned fds = open_fds();  // both connected, traffic flowing

    // Restarted mid-traffic: frames in flight are lost, both links go down, and come back.
    for (unsigned i = 0; i < 64; ++i) (void)a.netif->write(frame(a, 200, i, true)), (void)b.netif->write(frame(b, 200, i, false));
    pump(a, b, 5ms);
    ASSERT_EQ(ovs_->restart_vswitchd(), "");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!(a.netif->link_up() && b.netif->link_up()) && std::chrono::steady_clock::now() < deadline) pump(a, b, 50ms);
    ASSERT_TRUE(a.netif->link_up()) << "the client did not reconnect";
    ASSERT_TRUE(b.netif->link_up()) << "OVS did not reconnect to the server";
    ASSERT_TRUE(path_open(a, b, true)) << "no frame crossed the restarted switch from a to b";
    ASSERT_TRUE(path_open(b, a, false)) << "no frame crossed the restarted switch from b to a";
    expect_crossing(a, b, true, 300, 2000);
    expect_crossing(b, a, false, 300, 3000);
    EXPECT_EQ(a.netif->get_stats_counters().device_errors + b.netif->get_stats_counters().device_errors, 0u);
    EXPECT_EQ(open_fds(), fds) << "the reconnections left file descriptors behind";

    a.loop.run_until(a.netif->disconnect());
    b.loop.run_until(b.netif->disconnect());
    a.received.clear();
    b.received.clear();
    pump(a, b, 50ms);
    EXPECT_EQ(a.pool->in_use(), 0u);
    EXPECT_EQ(b.pool->in_use(), 0u);
  }
}

}  // namespace
}  // namespace netfront
