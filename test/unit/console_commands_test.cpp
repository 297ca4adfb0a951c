// The echo appliance's console commands (tools/appliance/console_commands.hpp) on a loop:
// device: each sets what it names on the device and answers in one line; malformed ones are
// answered with what was expected and change nothing.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"
#include "netfront/rss.hpp"
#include "tools/appliance/console_commands.hpp"
#include "tools/appliance/tso_sender.hpp"

using namespace netfront;

namespace {

class ConsoleCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = loop_.run_until(Netif::connect(std::string_view("loop:vlan_filter")));
    ASSERT_TRUE(c) << c.error().to_string();
    dev_.emplace(std::move(*c));
  }
  void TearDown() override { loop_.run_until(dev_->disconnect()); }
  std::optional<std::string> run(const std::string& line) { return loop_.run_until(appliance::run_console_command(*dev_, line)); }

  EventLoop loop_;
  std::optional<Netif> dev_;
};

TEST_F(ConsoleCommands, EachSetsWhatItNames) {
  EXPECT_EQ(run("rx-mode promiscuous off"), "rx-mode promiscuous off: ok");
  EXPECT_EQ(run("  rx-mode   no-broadcast on "), "rx-mode no-broadcast on: ok");
  EXPECT_EQ(run("mac 02:00:00:00:00:2A"), "mac 02:00:00:00:00:2A: ok");
  EXPECT_EQ(run("mac-table 02:00:00:00:00:03,02:00:00:00:00:04 01:00:5e:00:00:fb"),
            "mac-table 02:00:00:00:00:03,02:00:00:00:00:04 01:00:5e:00:00:fb: ok");
  EXPECT_EQ(run("vlan add 100"), "vlan add 100: ok");
  EXPECT_EQ(run("vlan add 7"), "vlan add 7: ok");
  EXPECT_EQ(run("vlan remove 7"), "vlan remove 7: ok");
  const RxFilter f = dev_->rx_filter();
  EXPECT_EQ(f.mode(RxMode::Promiscuous), false);
  EXPECT_EQ(f.mode(RxMode::NoBroadcast), true);
  EXPECT_EQ(dev_->mac().to_string(), "02:00:00:00:00:2a");
  EXPECT_EQ(f.unicast.size(), 2u);
  ASSERT_EQ(f.multicast.size(), 1u);
  EXPECT_EQ(f.multicast[0].to_string(), "01:00:5e:00:00:fb");
  EXPECT_EQ(f.vlans, std::vector<std::uint16_t>{100});
  EXPECT_EQ(run("mac-table - -"), "mac-table - -: ok");
  EXPECT_TRUE(dev_->rx_filter().unicast.empty());
  EXPECT_EQ(run("link"), "link: up 10000 Mbit/s full duplex");
}

TEST_F(ConsoleCommands, MalformedOnesSayWhatWasExpected) {
  const RxFilter before = dev_->rx_filter();
  EXPECT_EQ(run("rx-mode promiscuous maybe"), "rx-mode promiscuous maybe: expected rx-mode NAME on|off");
  EXPECT_EQ(run("rx-mode loud on"), "rx-mode loud on: expected rx-mode NAME on|off");
  EXPECT_EQ(run("mac 02:00:00:00:00"), "mac 02:00:00:00:00: expected mac XX:XX:XX:XX:XX:XX");
  EXPECT_EQ(run("mac 02-00-00-00-00-01"), "mac 02-00-00-00-00-01: expected mac XX:XX:XX:XX:XX:XX");
  EXPECT_EQ(run("mac-table 02:00:00:00:00:03"), "mac-table 02:00:00:00:00:03: expected mac-table UNICAST,... MULTICAST,... ('-' for none)");
  EXPECT_EQ(run("vlan add 1x"), "vlan add 1x: expected vlan add|remove N");
  EXPECT_EQ(run("vlan add 70000"), "vlan add 70000: expected vlan add|remove N");
  EXPECT_EQ(run("vlan drop 1"), "vlan drop 1: expected vlan add|remove N");
  // Well formed but refused by netfront: the error is the answer.
  const auto refused = run("vlan add 4096");
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("bad argument"), std::string::npos) << *refused;
  const auto multicast = run("mac 01:00:5e:00:00:01");
  ASSERT_TRUE(multicast);
  EXPECT_NE(multicast->find("not a device's own MAC"), std::string::npos) << *multicast;
  EXPECT_EQ(dev_->rx_filter(), before);
  EXPECT_EQ(run("stats"), std::nullopt) << "not a command of these";
  EXPECT_EQ(run(""), std::nullopt);
}

TEST(ConsoleRss, ShowsAndSetsTheTableAndTypes) {
  EventLoop loop;
  auto c = loop.run_until(Netif::connect(std::string_view("loop:rss,queues=2,hash_report")));
  ASSERT_TRUE(c) << c.error().to_string();
  auto run = [&](const std::string& line) { return loop.run_until(appliance::run_console_command(*c, line)); };
  const auto shown = run("rss");
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->rfind("rss: steering, hash report, types ipv4+tcpv4+udpv4+ipv6+tcpv6+udpv6, key 6d5a6d5a", 0), 0u) << *shown;
  EXPECT_NE(shown->find(", table 0,1,0,1,"), std::string::npos) << *shown;
  EXPECT_EQ(run("rss table 1,1,0,1"), "rss table 1,1,0,1: ok");
  EXPECT_EQ(c->rss_config().indirection_table, (std::vector<std::uint16_t>{1, 1, 0, 1}));
  EXPECT_EQ(run("rss types ipv4+udpv4"), "rss types ipv4+udpv4: ok");
  EXPECT_EQ(c->rss_config().hash_types, HashTypes{}.with(HashType::Ipv4).with(HashType::Udpv4));
  EXPECT_EQ(run("rss table 1,x"), "rss table 1,x: expected rss, rss table P[,P...] or rss types T[+T...]");
  EXPECT_EQ(run("rss types tcpv9"), "rss types tcpv9: expected rss, rss table P[,P...] or rss types T[+T...]");
  const auto refused = run("rss table 0,1,2");  // neither a power of two nor pairs it has
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("indirection table of 3 entries"), std::string::npos) << *refused;
  EXPECT_EQ(c->rss_config().indirection_table, (std::vector<std::uint16_t>{1, 1, 0, 1}));
  loop.run_until(c->disconnect());
}

TEST(TsoSend, ParsesItsFiveArgumentsOnly) {
  const auto s = appliance::parse_tso_send("tso-send 02:00:00:00:00:01 10.0.3.2 5001 60000 1448");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to.to_string(), "02:00:00:00:00:01");
  EXPECT_EQ(s->dst_ip, 0x0a000302u);
  EXPECT_EQ(s->dst_port, 5001);
  EXPECT_EQ(s->bytes, 60000u);
  EXPECT_EQ(s->mss, 1448);
  for (const char* bad : {"tso-send 02:00:00:00:00:01 10.0.3.2 5001 60000", "tso-send 02:00:00:00:00 10.0.3.2 5001 600 100",
                          "tso-send 02:00:00:00:00:01 10.0.3 5001 600 100", "tso-send 02:00:00:00:00:01 10.0.3.2 0 600 100",
                          "tso-send 02:00:00:00:00:01 10.0.3.2 70000 600 100", "tso-send 02:00:00:00:00:01 10.0.3.2 1 600 0",
                          "tso-send 02:00:00:00:00:01 10.0.3.2 1 600 100 x", "stats"})
    EXPECT_FALSE(appliance::parse_tso_send(bad)) << bad;
}

// The loop device cuts the super-frame as a wire would: segments of the asked size carrying
// the stream in order.
TEST(TsoSend, TheSuperFrameComesBackAsSegmentsOfTheStream) {
  EventLoop loop;
  auto c = loop.run_until(Netif::connect(std::string_view("loop:offloads=csum+tso4")));
  ASSERT_TRUE(c) << c.error().to_string();
  auto pool = PacketPool::create({.size = 255, .cache = 0});
  ASSERT_TRUE(pool);
  std::vector<std::vector<std::byte>> got;
  auto listening = c->listen([&](Buffer f) {
    got.emplace_back(f.bytes().begin(), f.bytes().end());
    return make_ready_io();
  });
  const appliance::EchoAddress self{.mac = c->mac(), .ipv4 = 0x0a00020f};
  const appliance::TsoSend s{.to = c->mac(), .dst_ip = 0x0a000302, .dst_port = 5001, .bytes = 10000, .mss = 1000};
  ASSERT_TRUE(loop.run_until(appliance::send_tso(*c, *pool, self, s)));
  for (int i = 0; i < 100000 && got.size() < 10; ++i) loop.run_once();
  ASSERT_EQ(got.size(), 10u);
  for (std::size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].size(), 54u + 1000u);
    for (std::size_t i = 0; i < 1000; ++i)
      ASSERT_EQ(std::to_integer<unsigned>(got[k][54 + i]), (k * 1000 + i) % 251) << "segment " << k << " byte " << i;
  }
  auto too_long = appliance::TsoSend{s};
  too_long.bytes = 70000;
  EXPECT_FALSE(loop.run_until(appliance::send_tso(*c, *pool, self, too_long))) << "beyond what one IPv4 packet holds";
  loop.run_until(c->disconnect());
  (void)loop.run_until(std::move(listening));
}

TEST(MacAddressParse, TakesTheUsualSpellingOnly) {
  EXPECT_EQ(MacAddress::parse("52:54:00:AB:cd:01"), (MacAddress{{0x52, 0x54, 0x00, 0xab, 0xcd, 0x01}}));
  for (const char* bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52-54-00-ab-cd-01", "52:54:00:ab:cd:01:", "5:54:00:ab:cd:011"})
    EXPECT_FALSE(MacAddress::parse(bad)) << bad;
}

}  // namespace
