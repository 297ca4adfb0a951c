// The echo appliance's answers, built in place in the request's mbuf: ARP, ICMP echo, UDP echo,
// and what it refuses to answer.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "netfront/packet_pool.hpp"
#include "tools/appliance/echo_responder.hpp"

using namespace netfront;
using namespace netfront::appliance;

namespace {

constexpr std::uint32_t kSelfIp = 0x0a00020f;  // 10.0.2.15
constexpr std::uint32_t kPeerIp = 0x0a000202;  // 10.0.2.2
const MacAddress kSelfMac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const MacAddress kPeerMac{{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}};

class EchoResponder : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = PacketPool::create({.size = 63, .cache = 0});
    ASSERT_TRUE(made) << made.error().to_string();
    pool_.emplace(std::move(*made));
    self_ = {kSelfMac, kSelfIp, 7};
  }
  void TearDown() override { EXPECT_EQ(pool_->in_use(), 0u); }

  Buffer frame(std::size_t length, std::uint16_t ethertype, const MacAddress& dst) {
    auto b = Buffer::create(pool_->get(), length);
    EXPECT_TRUE(b);
    Buffer f = *b;
    f.fill(std::byte{0});
    for (int i = 0; i < 6; ++i) f.set_u8(i, dst.bytes[i]), f.set_u8(6 + i, kPeerMac.bytes[i]);
    f.set_be16(12, ethertype);
    return f;
  }
  Buffer arp_request(std::uint32_t target) {
    Buffer f = frame(60, 0x0806, MacAddress{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}});  // padded to the minimum
    Buffer a = f.shift(14);
    a.set_be16(0, 1), a.set_be16(2, 0x0800), a.set_u8(4, 6), a.set_u8(5, 4), a.set_be16(6, 1);
    for (int i = 0; i < 6; ++i) a.set_u8(8 + i, kPeerMac.bytes[i]);
    a.set_be32(14, kPeerIp);
    a.set_be32(24, target);
    return f;
  }
  // An IPv4 packet to us with `payload_len` bytes after an 8-byte ICMP or UDP header.
  Buffer ipv4(std::uint8_t proto, std::size_t payload_len, std::size_t padding = 0) {
    const std::size_t total = 20 + 8 + payload_len;
    Buffer f = frame(14 + total + padding, 0x0800, kSelfMac);
    Buffer ip = f.shift(14);
    ip.set_u8(0, 0x45), ip.set_be16(2, static_cast<std::uint16_t>(total)), ip.set_u8(8, 17), ip.set_u8(9, proto);
    ip.set_be32(12, kPeerIp), ip.set_be32(16, kSelfIp);
    for (std::size_t i = 0; i < payload_len; ++i) ip.set_u8(28 + i, static_cast<std::uint8_t>(i * 3));
    ip.set_be16(10, internet_checksum(ip, 0, 20));
    return f;
  }
  Buffer icmp_echo(std::size_t payload_len) {
    Buffer f = ipv4(1, payload_len);
    Buffer ip = f.shift(14);
    ip.set_u8(20, 8), ip.set_be16(24, 0x1234), ip.set_be16(26, 1);
    ip.set_be16(22, internet_checksum(ip, 20, 8 + payload_len));
    return f;
  }
  Buffer udp(std::uint16_t dst_port, std::size_t payload_len, std::size_t padding = 0) {
    Buffer f = ipv4(17, payload_len, padding);
    Buffer ip = f.shift(14);
    ip.set_be16(20, 40000), ip.set_be16(22, dst_port), ip.set_be16(24, static_cast<std::uint16_t>(8 + payload_len));
    return f;
  }

  std::optional<PacketPool> pool_;
  EchoAddress self_;
  EchoCounters n_;
};

void expect_from_us_to_peer(const Buffer& f) {
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(f.get_u8(i), kPeerMac.bytes[i]);
    EXPECT_EQ(f.get_u8(6 + i), kSelfMac.bytes[i]);
  }
}

// The checksum itself, against answers that do not come from it: RFC 1071 §3's example, an
// IPv4 header whose checksum is well known (0xb861), and an odd length (the last byte is the
// high half of a final 16-bit word).
TEST_F(EchoResponder, InternetChecksumMatchesKnownAnswers) {
  auto of = [&](std::initializer_list<std::uint8_t> bytes) {
    Buffer b = frame(bytes.size() < 14 ? 14 : bytes.size(), 0, kSelfMac);
    std::size_t i = 0;
    for (std::uint8_t v : bytes) b.set_u8(i++, v);
    return internet_checksum(b, 0, bytes.size());
  };
  // RFC 1071: the ones' complement sum of 0001 f203 f4f5 f6f7 is 0xddf2; its complement 0x220d.
  EXPECT_EQ(of({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}), 0x220d);
  EXPECT_EQ(of({0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
                0xa8, 0x00, 0xc7}),
            0xb861);
  EXPECT_EQ(of({0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
                0xa8, 0x00, 0xc7}),
            0x0000);  // a header that carries its checksum sums to zero
  EXPECT_EQ(of({0x01, 0x02, 0x03}), 0xfbfd);  // 0x0102 + 0x0300 = 0x0402
  EXPECT_EQ(of({0xff, 0xff, 0xff, 0xff}), 0x0000);  // end-around carry
}

TEST_F(EchoResponder, ArpRequestForUsBecomesAReply) {
  Buffer f = arp_request(kSelfIp);
  ASSERT_EQ(answer_in_place(f, self_, n_), Answer::Arp);
  EXPECT_EQ(f.length(), 42u);  // padding dropped
  expect_from_us_to_peer(f);
  Buffer a = f.shift(14);
  EXPECT_EQ(a.get_be16(6), 2);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(a.get_u8(8 + i), kSelfMac.bytes[i]);
    EXPECT_EQ(a.get_u8(18 + i), kPeerMac.bytes[i]);
  }
  EXPECT_EQ(a.get_be32(14), kSelfIp);
  EXPECT_EQ(a.get_be32(24), kPeerIp);
  EXPECT_EQ(n_.arp, 1u);
}

TEST_F(EchoResponder, ArpForSomeoneElseIsIgnored) {
  Buffer f = arp_request(0x0a000203);
  EXPECT_EQ(answer_in_place(f, self_, n_), Answer::None);
  EXPECT_EQ(n_.ignored, 1u);
}

TEST_F(EchoResponder, IcmpEchoBecomesAReplyWithValidChecksums) {
  Buffer f = icmp_echo(56);
  ASSERT_EQ(answer_in_place(f, self_, n_), Answer::IcmpEcho);
  expect_from_us_to_peer(f);
  Buffer ip = f.shift(14);
  EXPECT_EQ(ip.get_be32(12), kSelfIp);
  EXPECT_EQ(ip.get_be32(16), kPeerIp);
  EXPECT_EQ(internet_checksum(ip, 0, 20), 0);
  EXPECT_EQ(ip.get_u8(20), 0);  // echo reply
  EXPECT_EQ(internet_checksum(ip, 20, 64), 0);
  EXPECT_EQ(ip.get_be16(24), 0x1234);
  for (std::size_t i = 0; i < 56; ++i) EXPECT_EQ(ip.get_u8(28 + i), static_cast<std::uint8_t>(i * 3));
}

TEST_F(EchoResponder, UdpToTheEchoPortComesBackWithPortsSwapped) {
  for (std::size_t len : {std::size_t{1}, std::size_t{18}, std::size_t{1472}}) {
    Buffer f = udp(7, len, len < 18 ? 18 - len : 0);  // short ones carry Ethernet padding
    ASSERT_EQ(answer_in_place(f, self_, n_), Answer::UdpEcho);
    EXPECT_EQ(f.length(), 14 + 28 + len);
    expect_from_us_to_peer(f);
    Buffer ip = f.shift(14);
    EXPECT_EQ(ip.get_be16(20), 7);
    EXPECT_EQ(ip.get_be16(22), 40000);
    EXPECT_EQ(internet_checksum(ip, 0, 20), 0);
    for (std::size_t i = 0; i < len; ++i) ASSERT_EQ(ip.get_u8(28 + i), static_cast<std::uint8_t>(i * 3));
  }
  EXPECT_EQ(n_.udp, 3u);
}

TEST_F(EchoResponder, OtherPortsProtocolsAndAddressesAreIgnored) {
  Buffer other_port = udp(9, 10);
  EXPECT_EQ(answer_in_place(other_port, self_, n_), Answer::None);
  Buffer tcp = ipv4(6, 20);
  EXPECT_EQ(answer_in_place(tcp, self_, n_), Answer::None);
  Buffer not_us = udp(7, 10);
  not_us.set_be32(14 + 16, 0x0a000209);
  not_us.set_be16(14 + 10, 0);
  not_us.set_be16(14 + 10, internet_checksum(not_us.shift(14), 0, 20));
  EXPECT_EQ(answer_in_place(not_us, self_, n_), Answer::None);
  Buffer ipv6 = frame(60, 0x86dd, kSelfMac);
  EXPECT_EQ(answer_in_place(ipv6, self_, n_), Answer::None);
  EXPECT_EQ(n_.ignored, 4u);
  EXPECT_EQ(n_.malformed, 0u);
}

TEST_F(EchoResponder, MalformedPacketsAreCountedNotAnswered) {
  Buffer bad_checksum = udp(7, 10);
  bad_checksum.set_be16(14 + 10, 0xdead);
  EXPECT_EQ(answer_in_place(bad_checksum, self_, n_), Answer::None);
  Buffer too_long = udp(7, 10);  // IP total length beyond the frame
  Buffer ip = too_long.shift(14);
  ip.set_be16(2, 200), ip.set_be16(10, 0), ip.set_be16(10, internet_checksum(ip, 0, 20));
  EXPECT_EQ(answer_in_place(too_long, self_, n_), Answer::None);
  Buffer bad_udp_length = udp(7, 10);
  bad_udp_length.set_be16(14 + 24, 99);
  EXPECT_EQ(answer_in_place(bad_udp_length, self_, n_), Answer::None);
  Buffer runt = frame(20, 0x0800, kSelfMac);
  EXPECT_EQ(answer_in_place(runt, self_, n_), Answer::None);
  Buffer tiny = frame(14, 0x0806, kSelfMac);
  EXPECT_EQ(answer_in_place(tiny, self_, n_), Answer::None);
  EXPECT_EQ(n_.malformed, 5u);
}

}  // namespace
