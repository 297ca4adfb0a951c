// Parsing of device ids (netfront/device_id.hpp). Every error names the id and the part of it
// that is wrong, since the id usually comes straight from a command line.
#include "netfront/device_id.hpp"

#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <cstdio>
#include <set>
#include <vector>

namespace netfront {
namespace {

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto comma = s.find(',');
    parts.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) return parts;
    s.remove_prefix(comma + 1);
  }
}

class IdParser {
 public:
  explicit IdParser(std::string_view text) : text_(text) {}

  Error fail(std::string_view what) const { return Error::unknown(Error::Cause::BadArgument, "device id '" + std::string(text_) + "': " + std::string(what)); }

  // Splits "key=value" or "flag"; rejects a key given twice.
  Result<std::pair<std::string_view, std::string_view>> option(std::string_view part) {
    if (part.empty()) return fail("empty option (two commas in a row, or a trailing comma)");
    const auto eq = part.find('=');
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    if (!seen_.insert(std::string(key)).second) return fail("option '" + std::string(key) + "' given twice");
    return std::pair{key, value};
  }

  Result<unsigned> number(std::string_view key, std::string_view value, unsigned lo, unsigned hi) const {
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || n < lo || n > hi)
      return fail(std::string(key) + "='" + std::string(value) + "' is not a number from " + std::to_string(lo) + " to " +
                  std::to_string(hi));
    return n;
  }

  Result<bool> on_off(std::string_view key, std::string_view value) const {
    if (value == "on" || value.empty()) return true;
    if (value == "off") return false;
    return fail(std::string(key) + "='" + std::string(value) + "' is not on or off");
  }

 private:
  std::string_view text_;
  std::set<std::string, std::less<>> seen_;
};

Result<unsigned> hex_field(const IdParser& p, std::string_view field, std::string_view name, std::size_t max_digits,
                           unsigned max) {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v, 16);
  if (field.empty() || field.size() > max_digits || ec != std::errc{} || end != field.data() + field.size() || v > max)
    return p.fail("PCI " + std::string(name) + " '" + std::string(field) + "' is not a hex number up to " +
                  [&] { char b[8]; std::snprintf(b, sizeof b, "%x", max); return std::string(b); }());
  return v;
}

Result<PciAddress> parse_pci(const IdParser& p, std::string_view text) {
  // [DDDD:]BB:DD.F
  const auto dot = text.rfind('.');
  if (dot == std::string_view::npos) return p.fail("PCI address '" + std::string(text) + "' has no '.function'");
  std::vector<std::string_view> fields;
  std::string_view head = text.substr(0, dot);
  for (;;) {
    const auto colon = head.find(':');
    fields.push_back(head.substr(0, colon));
    if (colon == std::string_view::npos) break;
    head.remove_prefix(colon + 1);
  }
  if (fields.size() < 2 || fields.size() > 3)
    return p.fail("PCI address '" + std::string(text) + "' is not [domain:]bus:device.function");
  if (fields.size() == 2) fields.insert(fields.begin(), "0");
  PciAddress a;
  auto domain = hex_field(p, fields[0], "domain", 4, 0xffff);
  if (!domain) return std::move(domain).error();
  auto bus = hex_field(p, fields[1], "bus", 2, 0xff);
  if (!bus) return std::move(bus).error();
  auto device = hex_field(p, fields[2], "device", 2, 0x1f);
  if (!device) return std::move(device).error();
  auto function = hex_field(p, text.substr(dot + 1), "function", 1, 7);
  if (!function) return std::move(function).error();
  a.domain = static_cast<std::uint16_t>(*domain);
  a.bus = static_cast<std::uint8_t>(*bus);
  a.device = static_cast<std::uint8_t>(*device);
  a.function = static_cast<std::uint8_t>(*function);
  return a;
}

// The offload names of offloads=, in the order to_string() writes them.
struct OffloadName {
  const char* name;
  bool Offloads::*flag;
};
constexpr OffloadName kOffloadNames[] = {
    {"csum", &Offloads::tx_checksum}, {"tso4", &Offloads::tso4}, {"tso6", &Offloads::tso6},
    {"ecn", &Offloads::tso_ecn},      {"uso", &Offloads::uso},   {"rx_csum", &Offloads::rx_checksum},
};

// offloads=NAME[+NAME...]; "all" asks for every one. A request that needs another one it
// lacks (tso4 without csum) is refused here, where the user can still change the id.
Result<Offloads> parse_offloads(const IdParser& p, std::string_view value) {
  Offloads o;
  if (value.empty()) return p.fail("offloads= names no offload (expected csum, tso4, tso6, ecn, uso, rx_csum or all, joined by '+')");
  for (;;) {
    const auto plus = value.find('+');
    const std::string_view name = value.substr(0, plus);
    if (name == "all") {
      for (const OffloadName& n : kOffloadNames) o.*n.flag = true;
    } else {
      const auto* n = std::find_if(std::begin(kOffloadNames), std::end(kOffloadNames),
                                   [&](const OffloadName& x) { return name == x.name; });
      if (n == std::end(kOffloadNames))
        return p.fail("unknown offload '" + std::string(name) + "' (expected csum, tso4, tso6, ecn, uso, rx_csum or all)");
      o.*n->flag = true;
    }
    if (plus == std::string_view::npos) break;
    value.remove_prefix(plus + 1);
  }
  // §5.1.3.1: segmentation needs the checksum offload; ECN needs segmentation.
  if ((o.tso4 || o.tso6 || o.uso) && !o.tx_checksum) return p.fail("offloads tso4, tso6 and uso need csum too");
  if (o.tso_ecn && !(o.tso4 || o.tso6)) return p.fail("offload ecn needs tso4 or tso6 too");
  return o;
}

// Parses `key` if it is an option of every transport: nullopt when it is not one.
std::optional<Result<>> parse_common(const IdParser& p, std::string_view key, std::string_view value, CommonOptions& common) {
  if (key == "queues") {
    auto n = p.number(key, value, 1, kMaxQueuePairs);
    if (!n) return Result<>(std::move(n).error());
    common.queues = *n;
    return Result<>(Ok{});
  }
  if (key == "mtu") {
    auto n = p.number(key, value, kMinMtu, kMaxMtu);
    if (!n) return Result<>(std::move(n).error());
    common.mtu = static_cast<std::uint16_t>(*n);
    return Result<>(Ok{});
  }
  if (key == "vlan_filter" || key == "hash_report") {
    if (!value.empty()) return Result<>(p.fail("'" + std::string(key) + "' takes no value"));
    (key == "vlan_filter" ? common.vlan_filter : common.hash_report) = true;
    return Result<>(Ok{});
  }
  if (key == "offloads") {
    auto o = parse_offloads(p, value);
    if (!o) return Result<>(std::move(o).error());
    common.offloads = *o;
    return Result<>(Ok{});
  }
  return std::nullopt;
}

// packed=, mrg_rxbuf=, in_order=, event_idx=, indirect=on|off: a ring feature of a vhost
// backend to take or decline; nullopt when `key` is none of them.
std::optional<Result<>> parse_declined(const IdParser& p, std::string_view key, std::string_view value, FeatureChoice& accept) {
  bool FeatureChoice::*flag = key == "packed"      ? &FeatureChoice::packed
                              : key == "mrg_rxbuf" ? &FeatureChoice::mrg_rxbuf
                              : key == "in_order"  ? &FeatureChoice::in_order
                              : key == "event_idx" ? &FeatureChoice::event_idx
                              : key == "indirect"  ? &FeatureChoice::indirect
                                                   : nullptr;
  if (!flag) return std::nullopt;
  auto on = p.on_off(key, value);
  if (!on) return Result<>(std::move(on).error());
  accept.*flag = *on;
  return Result<>(Ok{});
}

// The options after a device's address (parts[1] on): those of every transport, and those
// `own` takes (it returns nullopt for a key that is not one of them); `expected` lists them
// all for the error about any other.
template <typename Own>
Result<> parse_options(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common, Own own,
                       std::string_view expected) {
  for (std::size_t i = 1; i < parts.size(); ++i) {
    auto kv = p.option(parts[i]);
    if (!kv) return std::move(kv).error();
    const auto [key, value] = *kv;
    std::optional<Result<>> parsed = parse_common(p, key, value, common);
    if (!parsed) parsed = own(key, value);
    if (!parsed) return p.fail("unknown option '" + std::string(parts[i]) + "' (expected " + std::string(expected) + ")");
    if (!*parsed) return std::move(*parsed).error();
  }
  return Ok{};
}

constexpr std::string_view kCommonOptions = "queues=N, offloads=, mtu=N, vlan_filter or hash_report";
constexpr std::string_view kVhostOptions =
    "queues=N, offloads=, mtu=N, vlan_filter, hash_report, packed=, mrg_rxbuf=, in_order=, event_idx= or indirect=on|off";

Result<> parse_common_only(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common) {
  return parse_options(p, parts, common, [](std::string_view, std::string_view) { return std::optional<Result<>>(); },
                       kCommonOptions);
}

// vhost-net:TAPNAME[,queues=N][,offloads=...][,mtu=N][,packed=|mrg_rxbuf=|in_order=|event_idx=|indirect=on|off]
// An interface name as the kernel takes one (net/core/dev.c dev_valid_name): 1 to 15
// characters, not "." or "..", no '/', ':' or white space, which the kernel's isspace() says
// of byte 0xa0 too (lib/ctype.c; the UTF-8 of U+00E0 holds one); and no '%', which would
// have the kernel pick the name. At most 256 queue pairs: a tap has no more queues
// (drivers/net/tun.c MAX_TAP_QUEUES), the 257th gets E2BIG.
Result<VhostNetAddress> parse_vhost_net(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common) {
  VhostNetAddress a;
  const std::string_view name = parts[0];
  if (name.empty()) return p.fail("no tap name after 'vhost-net:'");
  if (name.size() > 15) return p.fail("tap name '" + std::string(name) + "' is longer than the 15 characters an interface name has");
  if (name == "." || name == ".." || name.find_first_of("/:%") != std::string_view::npos ||
      std::any_of(name.begin(), name.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b < 0x21 || b == 0x7f || b == 0xa0;
      }))
    return p.fail("'" + std::string(name) + "' is not an interface name (no '/', ':', '%' or white space; not . or ..)");
  a.tap_name = std::string(name);
  auto own = [&](std::string_view key, std::string_view value) { return parse_declined(p, key, value, a.accept); };
  if (auto r = parse_options(p, parts, common, own, kVhostOptions); !r) return std::move(r).error();
  constexpr unsigned kMaxTapQueues = 256;
  if (common.queues > kMaxTapQueues)
    return p.fail("queues=" + std::to_string(common.queues) + ": a tap has at most " + std::to_string(kMaxTapQueues) + " queues");
  return a;
}

// vhost-user:PATH[,server|,reconnect=MS][,queues=N][,packed=|mrg_rxbuf=|in_order=|event_idx=|indirect=on|off]
Result<VhostUserAddress> parse_vhost_user(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common) {
  VhostUserAddress a;
  a.socket_path = std::string(parts[0]);
  if (a.socket_path.empty()) return p.fail("no socket path after 'vhost-user:'");
  if (a.socket_path.size() >= sizeof(sockaddr_un{}.sun_path))
    return p.fail("socket path of " + std::to_string(a.socket_path.size()) + " bytes is longer than the " +
                  std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " a unix socket allows");
  bool reconnect_given = false;
  auto own = [&](std::string_view key, std::string_view value) -> std::optional<Result<>> {
    if (key == "server" && value.empty()) {
      a.server = true;
      return Result<>(Ok{});
    }
    if (key == "reconnect") {
      auto ms = p.number(key, value, 0, 60000);
      if (!ms) return Result<>(std::move(ms).error());
      reconnect_given = true;
      a.reconnect_ms = *ms;
      return Result<>(Ok{});
    }
    return parse_declined(p, key, value, a.accept);
  };
  if (auto r = parse_options(p, parts, common, own, "server, reconnect=MS, " + std::string(kVhostOptions)); !r)
    return std::move(r).error();
  // A server takes the backend back whenever it connects again: there is nothing to retry.
  if (a.server && reconnect_given) return p.fail("reconnect= is for client mode (a server accepts its backend again by itself)");
  if (a.server) a.reconnect_ms = 0;
  return a;
}

// pci:[DDDD:]BB:DD.F[,options]
Result<PciAddress> parse_pci_id(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common) {
  if (parts[0].empty()) return p.fail("no PCI address after 'pci:'");
  auto a = parse_pci(p, parts[0]);
  if (!a) return std::move(a).error();
  if (auto r = parse_common_only(p, parts, common); !r) return std::move(r).error();
  return a;
}

// mmio:ADDRESS[,options]: a physical address, 0x-prefixed hex or decimal, 4-byte aligned and
// not 0 (§4.2.2: the registers are 32-bit).
Result<MmioAddress> parse_mmio_id(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common) {
  const std::string_view text = parts[0];
  if (text.empty()) return p.fail("no window address after 'mmio:'");
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const std::string_view digits = hex ? text.substr(2) : text;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, hex ? 16 : 10);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    return p.fail("'" + std::string(text) + "' is not a window address (0x... or decimal)");
  if (v == 0 || v % 4 != 0) return p.fail("window address '" + std::string(text) + "' is 0 or not 4-byte aligned");
  if (auto r = parse_common_only(p, parts, common); !r) return std::move(r).error();
  return MmioAddress{v};
}

// loop:[packed|split][,legacy][,mrg_rxbuf=|event_idx=|in_order=|indirect=on|off][,size=N][,mode=echo|sink][,queues=N]
Result<LoopOptions> parse_loop(IdParser& p, const std::vector<std::string_view>& parts, CommonOptions& common) {
  LoopOptions o;
  bool split_given = false;
  if (parts.size() == 1 && parts[0].empty()) return o;
  for (std::string_view part : parts) {
    auto kv = p.option(part);
    if (!kv) return std::move(kv).error();
    const auto [key, value] = *kv;
    if (auto c = parse_common(p, key, value, common)) {
      if (!*c) return std::move(*c).error();
    } else if (key == "packed" || key == "split" || key == "rss" || key == "legacy") {
      if (!value.empty()) return p.fail("'" + std::string(key) + "' takes no value");
      (key == "packed" ? o.packed : key == "rss" ? o.rss : key == "legacy" ? o.legacy : split_given) = true;
    } else if (key == "mrg_rxbuf" || key == "event_idx" || key == "in_order" || key == "indirect") {
      auto flag = p.on_off(key, value);
      if (!flag) return std::move(flag).error();
      (key == "mrg_rxbuf" ? o.mrg_rxbuf : key == "event_idx" ? o.event_idx : key == "in_order" ? o.in_order : o.indirect) = *flag;
    } else if (key == "size") {
      auto n = p.number(key, value, 2, 32768);
      if (!n) return std::move(n).error();
      if ((*n & (*n - 1)) != 0) return p.fail("size=" + std::to_string(*n) + " is not a power of two");
      o.queue_size = *n;
    } else if (key == "mode") {
      if (value != "echo" && value != "sink") return p.fail("mode='" + std::string(value) + "' is not echo or sink");
      o.echo = value == "echo";
    } else {
      return p.fail("unknown option '" + std::string(part) +
                    "' (expected packed, split, rss, legacy, mrg_rxbuf=on|off, event_idx=on|off, in_order=on|off, indirect=on|off, size=N, "
                    "mode=echo|sink, queues=N, offloads=, mtu=N, vlan_filter or hash_report)");
    }
  }
  if (o.packed && split_given) return p.fail("'packed' and 'split' both given");
  if (o.packed && o.legacy) return p.fail("a legacy device has no packed rings");
  return o;
}

}  // namespace

Result<DeviceId> DeviceId::parse(std::string_view text) {
  IdParser p(text);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return p.fail("no transport prefix (expected vhost-user:, vhost-net:, pci:, mmio: or loop:)");
  const std::string_view scheme = text.substr(0, colon);
  const auto parts = split_commas(text.substr(colon + 1));
  CommonOptions c;
  if (scheme == "vhost-user") {
    auto a = parse_vhost_user(p, parts, c);
    if (!a) return std::move(a).error();
    return DeviceId(std::move(*a), c);
  }
  if (scheme == "pci") {
    auto a = parse_pci_id(p, parts, c);
    if (!a) return std::move(a).error();
    return DeviceId(*a, c);
  }
  if (scheme == "loop") {
    auto o = parse_loop(p, parts, c);
    if (!o) return std::move(o).error();
    return DeviceId(*o, c);
  }
  if (scheme == "mmio") {
    auto a = parse_mmio_id(p, parts, c);
    if (!a) return std::move(a).error();
    return DeviceId(*a, c);
  }
  if (scheme == "vhost-net") {
    auto a = parse_vhost_net(p, parts, c);
    if (!a) return std::move(a).error();
    return DeviceId(std::move(*a), c);
  }
  return p.fail("unknown transport '" + std::string(scheme) + "' (expected vhost-user, vhost-net, pci, mmio or loop)");
}

std::string PciAddress::to_string() const {
  char b[16];
  std::snprintf(b, sizeof b, "%04x:%02x:%02x.%x", domain, bus, device, function);
  return b;
}

std::string MmioAddress::to_string() const {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(physical));
  return b;
}

std::string Offloads::to_string() const {
  std::string s;
  for (const OffloadName& n : kOffloadNames)
    if (this->*n.flag) s += (s.empty() ? "" : "+") + std::string(n.name);
  return s;
}

std::string DeviceId::to_string() const {
  const CommonOptions& c = common_;
  const std::string q = (c.queues == 1 ? "" : ",queues=" + std::to_string(c.queues)) +
                        (c.offloads.any() ? ",offloads=" + c.offloads.to_string() : "") +
                        (c.mtu != 0 ? ",mtu=" + std::to_string(c.mtu) : "") + (c.vlan_filter ? ",vlan_filter" : "") +
                        (c.hash_report ? ",hash_report" : "");
  auto declined = [](const FeatureChoice& accept) {
    std::string s;
    for (auto [on, name] : {std::pair{accept.packed, "packed"}, {accept.mrg_rxbuf, "mrg_rxbuf"}, {accept.in_order, "in_order"},
                            {accept.event_idx, "event_idx"}, {accept.indirect, "indirect"}})
      if (!on) s += "," + std::string(name) + "=off";
    return s;
  };
  switch (kind()) {
    case Kind::VhostUser: {
      const auto& v = vhost_user();
      const bool default_reconnect = v.server || v.reconnect_ms == VhostUserAddress{}.reconnect_ms;
      return "vhost-user:" + v.socket_path + (v.server ? ",server" : "") +
             (default_reconnect ? "" : ",reconnect=" + std::to_string(v.reconnect_ms)) + declined(v.accept) + q;
    }
    case Kind::VhostNet: return "vhost-net:" + vhost_net().tap_name + declined(vhost_net().accept) + q;
    case Kind::Pci: return "pci:" + pci().to_string() + q;
    case Kind::Mmio: return "mmio:" + mmio().to_string() + q;
    case Kind::None: return "";
    case Kind::Loop: break;
  }
  const LoopOptions& o = loop();
  const LoopOptions defaults;
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (o.packed) add("packed");
  if (o.legacy) add("legacy");
  if (o.mrg_rxbuf != defaults.mrg_rxbuf) add(std::string("mrg_rxbuf=") + (o.mrg_rxbuf ? "on" : "off"));
  if (o.event_idx != defaults.event_idx) add(std::string("event_idx=") + (o.event_idx ? "on" : "off"));
  if (o.in_order != defaults.in_order) add(std::string("in_order=") + (o.in_order ? "on" : "off"));
  if (o.indirect != defaults.indirect) add(std::string("indirect=") + (o.indirect ? "on" : "off"));
  if (o.queue_size != defaults.queue_size) add("size=" + std::to_string(o.queue_size));
  if (!o.echo) add("mode=sink");
  if (o.rss) add("rss");
  if (!q.empty()) add(q.substr(1));
  return "loop:" + s;
}

}  // namespace netfront
