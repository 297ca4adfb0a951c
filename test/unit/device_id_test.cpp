#include <gtest/gtest.h>

#include "netfront/device_id.hpp"

namespace netfront {
namespace {

DeviceId parse_ok(std::string_view text) {
  auto id = DeviceId::parse(text);
  EXPECT_TRUE(id) << text << ": " << (id ? "" : id.error().to_string());
  return id ? *id : *DeviceId::parse("loop:");
}

std::string parse_error(std::string_view text) {
  auto id = DeviceId::parse(text);
  EXPECT_FALSE(id) << text << " parsed as " << (id ? id->to_string() : "");
  if (id) return {};
  EXPECT_TRUE(id.error().is_unknown());
  EXPECT_EQ(id.error().cause(), Error::Cause::BadArgument) << text;  // the caller's mistake, not the device's
  return id.error().message();
}

TEST(DeviceIdTest, VhostUserClientServerAndQueues) {
  DeviceId a = parse_ok("vhost-user:/tmp/vh.sock");
  EXPECT_EQ(a.kind(), DeviceId::Kind::VhostUser);
  EXPECT_EQ(a.vhost_user().socket_path, "/tmp/vh.sock");
  EXPECT_FALSE(a.vhost_user().server);
  EXPECT_EQ(a.queue_pairs(), 1u);

  DeviceId b = parse_ok("vhost-user:/run/x.sock,server,queues=4");
  EXPECT_TRUE(b.vhost_user().server);
  EXPECT_EQ(b.queue_pairs(), 4u);
  DeviceId c = parse_ok("vhost-user:/x.sock,packed=off,in_order=off,mrg_rxbuf=on");
  EXPECT_FALSE(c.vhost_user().accept.packed);
  EXPECT_FALSE(c.vhost_user().accept.in_order);
  EXPECT_TRUE(c.vhost_user().accept.mrg_rxbuf);
  EXPECT_TRUE(c.vhost_user().accept.event_idx);
  // Option order does not matter.
  EXPECT_EQ(parse_ok("vhost-user:rel.sock,queues=2,server"), parse_ok("vhost-user:rel.sock,server,queues=2"));
}

TEST(DeviceIdTest, PciWithAndWithoutDomain) {
  DeviceId a = parse_ok("pci:0000:00:03.0");
  EXPECT_EQ(a.kind(), DeviceId::Kind::Pci);
  EXPECT_EQ(a.pci(), (PciAddress{0, 0, 3, 0}));
  EXPECT_EQ(parse_ok("pci:00:03.0"), a);
  DeviceId b = parse_ok("pci:abcd:ff:1f.7,queues=2");
  EXPECT_EQ(b.pci(), (PciAddress{0xabcd, 0xff, 0x1f, 7}));
  EXPECT_EQ(b.queue_pairs(), 2u);
  EXPECT_EQ(b.pci().to_string(), "abcd:ff:1f.7");
}

TEST(DeviceIdTest, MmioWindowInHexOrDecimal) {
  DeviceId a = parse_ok("mmio:0xfeb00000");
  EXPECT_EQ(a.kind(), DeviceId::Kind::Mmio);
  EXPECT_EQ(a.mmio().physical, 0xfeb00000u);
  EXPECT_EQ(parse_ok("mmio:4272947200"), a);
  EXPECT_EQ(parse_ok("mmio:0xfeb00200,queues=2").queue_pairs(), 2u);
  EXPECT_NE(parse_error("mmio:").find("no window address"), std::string::npos);
  EXPECT_NE(parse_error("mmio:0x").find("is not a window address"), std::string::npos);
  EXPECT_NE(parse_error("mmio:feb00000").find("is not a window address"), std::string::npos);
  EXPECT_NE(parse_error("mmio:0xfeb00002").find("not 4-byte aligned"), std::string::npos);
  EXPECT_NE(parse_error("mmio:0").find("is 0"), std::string::npos);
  EXPECT_NE(parse_error("mmio:0x1ffffffffffffffff").find("is not a window address"), std::string::npos);
  EXPECT_NE(parse_error("mmio:0xfeb00000,packed").find("unknown option 'packed'"), std::string::npos);
}

TEST(DeviceIdTest, VhostUserClientsReconnectAsAsked) {
  EXPECT_EQ(parse_ok("vhost-user:/a.sock").vhost_user().reconnect_ms, 1000u);
  EXPECT_EQ(parse_ok("vhost-user:/a.sock,reconnect=250").vhost_user().reconnect_ms, 250u);
  EXPECT_EQ(parse_ok("vhost-user:/a.sock,reconnect=0").vhost_user().reconnect_ms, 0u);
  EXPECT_EQ(parse_ok("vhost-user:/a.sock,server").vhost_user().reconnect_ms, 0u);  // it accepts instead
  EXPECT_NE(parse_error("vhost-user:/a.sock,server,reconnect=100").find("reconnect= is for client mode"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a.sock,reconnect=60001").find("reconnect='60001' is not a number from 0 to 60000"),
            std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a.sock,reconnect").find("reconnect=''"), std::string::npos);
}

TEST(DeviceIdTest, VhostNetTapNameAndOptions) {
  DeviceId a = parse_ok("vhost-net:nf0");
  EXPECT_EQ(a.kind(), DeviceId::Kind::VhostNet);
  EXPECT_EQ(a.vhost_net().tap_name, "nf0");
  EXPECT_EQ(a.vhost_net().accept, FeatureChoice{});
  DeviceId b = parse_ok("vhost-net:tap.with-15char,queues=4,mrg_rxbuf=off,offloads=csum");
  EXPECT_EQ(b.vhost_net().tap_name, "tap.with-15char");
  EXPECT_EQ(b.queue_pairs(), 4u);
  EXPECT_FALSE(b.vhost_net().accept.mrg_rxbuf);
  EXPECT_TRUE(b.offloads().tx_checksum);
  EXPECT_NE(parse_error("vhost-net:").find("no tap name"), std::string::npos);
  EXPECT_NE(parse_error("vhost-net:a-name-of-16-chars").find("longer than the 15 characters"), std::string::npos);
  for (const char* bad : {"vhost-net:.", "vhost-net:..", "vhost-net:a/b", "vhost-net:tap%d", "vhost-net:a b", "vhost-net:a\tb",
                          "vhost-net:x\x7f"})
    EXPECT_NE(parse_error(bad).find("is not an interface name"), std::string::npos) << bad;
  EXPECT_NE(parse_error("vhost-net:nf0,server").find("unknown option 'server'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-net:nf0,packed=maybe").find("is not on or off"), std::string::npos);
  EXPECT_NE(parse_error("vhost-net:nf0,queues=0").find("queues='0'"), std::string::npos);
}

// What the kernel would still refuse with an EINVAL that reads as "a tap of another kind":
// byte 0xa0, white space to its isspace() (lib/ctype.c), which a UTF-8 'a' with a grave
// accent holds; and more queues than a tap has (MAX_TAP_QUEUES, 256).
TEST(DeviceIdTest, VhostNetRefusesWhatTheKernelsTapWould) {
  for (const char* bad : {"vhost-net:\xa0x", "vhost-net:t\xc3\xa0p"})
    EXPECT_NE(parse_error(bad).find("is not an interface name"), std::string::npos) << bad;
  EXPECT_EQ(parse_ok("vhost-net:t\xc3\xa9p").vhost_net().tap_name, "t\xc3\xa9p");  // the kernel takes other UTF-8
  EXPECT_EQ(parse_ok("vhost-net:nf0,queues=256").queue_pairs(), 256u);
  EXPECT_NE(parse_error("vhost-net:nf0,queues=257").find("a tap has at most 256 queues"), std::string::npos)
      << parse_error("vhost-net:nf0,queues=257");
  EXPECT_EQ(parse_ok("vhost-user:/x.sock,queues=257").queue_pairs(), 257u);  // a vhost-user backend's own limit
}

TEST(DeviceIdTest, LoopDefaultsAndOptions) {
  DeviceId a = parse_ok("loop:");
  EXPECT_EQ(a.kind(), DeviceId::Kind::Loop);
  EXPECT_EQ(a.loop(), LoopOptions{});
  DeviceId b = parse_ok("loop:packed,mrg_rxbuf=off,event_idx=off,in_order=on,size=64,mode=sink,queues=2");
  EXPECT_TRUE(b.loop().packed);
  EXPECT_FALSE(b.loop().mrg_rxbuf);
  EXPECT_FALSE(b.loop().event_idx);
  EXPECT_TRUE(b.loop().in_order);
  EXPECT_EQ(b.loop().queue_size, 64u);
  EXPECT_FALSE(b.loop().echo);
  EXPECT_EQ(b.queue_pairs(), 2u);
}

TEST(DeviceIdTest, ToStringRoundTrips) {
  for (const char* text : {"vhost-user:/tmp/a.sock", "vhost-user:/tmp/a.sock,server,queues=3",
                           "vhost-user:/tmp/a.sock,packed=off,mrg_rxbuf=off,in_order=off,event_idx=off,indirect=off",
                           "pci:0000:00:03.0",
                           "pci:0001:02:1f.7,queues=8", "loop:", "loop:packed,in_order=on,size=64,queues=2",
                           "loop:mrg_rxbuf=off,event_idx=off,mode=sink", "loop:packed,indirect=off",
                           "vhost-user:/tmp/a.sock,queues=2,offloads=csum+tso4+rx_csum", "pci:0000:00:03.0,offloads=csum",
                           "loop:offloads=csum+tso4+tso6+ecn+uso+rx_csum", "vhost-user:/tmp/a.sock,mtu=9000",
                           "loop:packed,offloads=csum,mtu=68", "pci:0000:00:03.0,vlan_filter",
                           "vhost-user:/tmp/a.sock,queues=2,mtu=9000,vlan_filter", "pci:0000:00:03.0,queues=4,hash_report",
                           "loop:rss,queues=4,vlan_filter,hash_report", "mmio:0xfeb00000", "mmio:0xd0000000,queues=2,offloads=csum",
                           "loop:legacy,mrg_rxbuf=off", "vhost-net:nf0", "vhost-net:nf0,event_idx=off,indirect=off,queues=2,mtu=9000",
                           "vhost-user:/tmp/a.sock,reconnect=0", "vhost-user:/tmp/a.sock,reconnect=50,packed=off"}) {
    DeviceId id = parse_ok(text);
    EXPECT_EQ(id.to_string(), text);
    EXPECT_EQ(parse_ok(id.to_string()), id);
  }
}

TEST(DeviceIdTest, OffloadsAreAskedForByName) {
  EXPECT_EQ(parse_ok("loop:").offloads(), Offloads{});
  const Offloads all = parse_ok("loop:offloads=all").offloads();
  EXPECT_EQ(all, (Offloads{.tx_checksum = true, .tso4 = true, .tso6 = true, .tso_ecn = true, .uso = true, .rx_checksum = true}));
  EXPECT_EQ(parse_ok("loop:offloads=all").to_string(), "loop:offloads=csum+tso4+tso6+ecn+uso+rx_csum");
  EXPECT_EQ(parse_ok("pci:00:03.0,offloads=rx_csum+csum").offloads(), (Offloads{.tx_checksum = true, .rx_checksum = true}));
  EXPECT_NE(parse_error("loop:offloads=").find("names no offload"), std::string::npos);
  EXPECT_NE(parse_error("loop:offloads=gro").find("unknown offload 'gro'"), std::string::npos);
  EXPECT_NE(parse_error("loop:offloads=csum+").find("unknown offload ''"), std::string::npos);
  EXPECT_NE(parse_error("loop:offloads=tso4").find("need csum too"), std::string::npos);
  EXPECT_NE(parse_error("loop:offloads=csum+ecn").find("ecn needs tso4 or tso6"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,offloads=csum,offloads=csum").find("given twice"), std::string::npos);
}

TEST(DeviceIdTest, TheMtuIsAskedForInRange) {
  EXPECT_EQ(parse_ok("loop:").mtu(), 0);
  EXPECT_EQ(parse_ok("vhost-user:/a,mtu=9216").mtu(), 9216);
  EXPECT_NE(parse_error("vhost-user:/a,mtu=9217").find("mtu='9217' is not a number from 68 to 9216"), std::string::npos);
  EXPECT_NE(parse_error("pci:00:03.0,mtu=67").find("mtu='67'"), std::string::npos);
  EXPECT_NE(parse_error("loop:mtu=jumbo").find("mtu='jumbo'"), std::string::npos);
}

TEST(DeviceIdTest, TheVlanFilterIsAskedForByName) {
  EXPECT_FALSE(parse_ok("pci:00:03.0").vlan_filter());
  EXPECT_TRUE(parse_ok("pci:00:03.0,vlan_filter").vlan_filter());
  EXPECT_TRUE(parse_ok("loop:packed,vlan_filter").vlan_filter());
  EXPECT_NE(parse_error("loop:vlan_filter=on").find("'vlan_filter' takes no value"), std::string::npos);
  EXPECT_NE(parse_error("loop:vlan_filter,vlan_filter").find("given twice"), std::string::npos);
}

TEST(DeviceIdTest, TheHashReportIsAskedForByName) {
  EXPECT_FALSE(parse_ok("pci:00:03.0").hash_report());
  EXPECT_TRUE(parse_ok("pci:00:03.0,hash_report").hash_report());
  EXPECT_TRUE(parse_ok("vhost-user:/a,hash_report").hash_report());
  EXPECT_TRUE(parse_ok("loop:rss,hash_report").loop().rss);
  EXPECT_FALSE(parse_ok("loop:hash_report").loop().rss);
  EXPECT_NE(parse_error("loop:hash_report=1").find("'hash_report' takes no value"), std::string::npos);
  EXPECT_NE(parse_error("pci:00:03.0,rss").find("unknown option 'rss'"), std::string::npos) << "the loop device's switch only";
}

TEST(DeviceIdTest, BadIdsNameTheBadPart) {
  EXPECT_NE(parse_error("").find("no transport prefix"), std::string::npos);
  EXPECT_NE(parse_error("/tmp/vh.sock").find("no transport prefix"), std::string::npos);
  EXPECT_NE(parse_error("tap:eth0").find("unknown transport 'tap'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:").find("no socket path"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:" + std::string(120, 'a')).find("longer than the 107"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,client").find("unknown option 'client'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,server=1").find("unknown option 'server=1'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,packed=maybe").find("'maybe' is not on or off"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,queues=0").find("queues='0' is not a number from 1 to 32768"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,queues=32769").find("queues='32769'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,queues=2x").find("queues='2x'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,queues=-1").find("queues='-1'"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,queues=2,queues=3").find("'queues' given twice"), std::string::npos);
  EXPECT_NE(parse_error("vhost-user:/a,").find("empty option"), std::string::npos);
  EXPECT_NE(parse_error("pci:").find("no PCI address"), std::string::npos);
  EXPECT_NE(parse_error("pci:0000:00:03").find("no '.function'"), std::string::npos);
  EXPECT_NE(parse_error("pci:0000:00:3g.0").find("PCI device '3g'"), std::string::npos);
  EXPECT_NE(parse_error("pci:0000:00:20.0").find("PCI device '20' is not a hex number up to 1f"), std::string::npos);
  EXPECT_NE(parse_error("pci:0000:00:03.8").find("PCI function '8'"), std::string::npos);
  EXPECT_NE(parse_error("pci:10000:00:03.0").find("PCI domain '10000'"), std::string::npos);
  EXPECT_NE(parse_error("pci:0:0:0:03.0").find("not [domain:]bus:device.function"), std::string::npos);
  EXPECT_NE(parse_error("pci:0000:00:03.0,server").find("unknown option 'server'"), std::string::npos);
  EXPECT_NE(parse_error("loop:size=100").find("not a power of two"), std::string::npos);
  EXPECT_NE(parse_error("loop:size=1").find("size='1'"), std::string::npos);
  EXPECT_NE(parse_error("loop:mrg_rxbuf=maybe").find("'maybe' is not on or off"), std::string::npos);
  EXPECT_NE(parse_error("loop:packed,split").find("both given"), std::string::npos);
  EXPECT_NE(parse_error("loop:packed=on").find("takes no value"), std::string::npos);
  EXPECT_NE(parse_error("loop:mode=reflect").find("mode='reflect'"), std::string::npos);
  EXPECT_NE(parse_error("loop:turbo").find("unknown option 'turbo'"), std::string::npos);
  // The whole id is quoted so the user sees which of several ids was wrong.
  EXPECT_EQ(parse_error("loop:turbo").rfind("device id 'loop:turbo': ", 0), 0u);
}

}  // namespace
}  // namespace netfront
