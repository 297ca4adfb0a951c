// Parsing of device ids (netfront/device_id.hpp). Every error names the id and the part of it
// that is wrong, since the id usually comes straight from a command line.
#include "netfront/device_id.hpp"

#include <sys/un.h>

#include <charconv>
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

// The option queues=N, which every transport takes.
Result<> parse_queues(const IdParser& p, std::string_view key, std::string_view value, unsigned& queues) {
  auto n = p.number(key, value, 1, kMaxQueuePairs);
  if (!n) return std::move(n).error();
  queues = *n;
  return Ok{};
}

// vhost-user:PATH[,server][,queues=N][,packed=|mrg_rxbuf=|in_order=|event_idx=|indirect=on|off]
Result<VhostUserAddress> parse_vhost_user(IdParser& p, const std::vector<std::string_view>& parts, unsigned& queues) {
  VhostUserAddress a;
  a.socket_path = std::string(parts[0]);
  if (a.socket_path.empty()) return p.fail("no socket path after 'vhost-user:'");
  if (a.socket_path.size() >= sizeof(sockaddr_un{}.sun_path))
    return p.fail("socket path of " + std::to_string(a.socket_path.size()) + " bytes is longer than the " +
                  std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " a unix socket allows");
  for (std::size_t i = 1; i < parts.size(); ++i) {
    auto kv = p.option(parts[i]);
    if (!kv) return std::move(kv).error();
    const auto [key, value] = *kv;
    if (key == "server" && value.empty()) {
      a.server = true;
    } else if (key == "queues") {
      if (auto q = parse_queues(p, key, value, queues); !q) return std::move(q).error();
    } else if (key == "packed" || key == "mrg_rxbuf" || key == "in_order" || key == "event_idx" || key == "indirect") {
      auto flag = p.on_off(key, value);
      if (!flag) return std::move(flag).error();
      (key == "packed" ? a.accept.packed : key == "mrg_rxbuf" ? a.accept.mrg_rxbuf
                       : key == "in_order" ? a.accept.in_order : key == "indirect" ? a.accept.indirect
                       : a.accept.event_idx) = *flag;
    } else {
      return p.fail("unknown option '" + std::string(parts[i]) +
                    "' (expected server, queues=N, packed=, mrg_rxbuf=, in_order=, event_idx= or indirect=on|off)");
    }
  }
  return a;
}

// pci:[DDDD:]BB:DD.F[,queues=N]
Result<PciAddress> parse_pci_id(IdParser& p, const std::vector<std::string_view>& parts, unsigned& queues) {
  if (parts[0].empty()) return p.fail("no PCI address after 'pci:'");
  auto a = parse_pci(p, parts[0]);
  if (!a) return std::move(a).error();
  for (std::size_t i = 1; i < parts.size(); ++i) {
    auto kv = p.option(parts[i]);
    if (!kv) return std::move(kv).error();
    const auto [key, value] = *kv;
    if (key != "queues") return p.fail("unknown option '" + std::string(parts[i]) + "' (expected queues=N)");
    if (auto q = parse_queues(p, key, value, queues); !q) return std::move(q).error();
  }
  return a;
}

// loop:[packed|split][,mrg_rxbuf=|event_idx=|in_order=|indirect=on|off][,size=N][,mode=echo|sink][,queues=N]
Result<LoopOptions> parse_loop(IdParser& p, const std::vector<std::string_view>& parts, unsigned& queues) {
  LoopOptions o;
  bool split_given = false;
  if (parts.size() == 1 && parts[0].empty()) return o;
  for (std::string_view part : parts) {
    auto kv = p.option(part);
    if (!kv) return std::move(kv).error();
    const auto [key, value] = *kv;
    if (key == "packed" || key == "split") {
      if (!value.empty()) return p.fail("'" + std::string(key) + "' takes no value");
      (key == "packed" ? o.packed : split_given) = true;
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
    } else if (key == "queues") {
      if (auto q = parse_queues(p, key, value, queues); !q) return std::move(q).error();
    } else {
      return p.fail("unknown option '" + std::string(part) +
                    "' (expected packed, split, mrg_rxbuf=on|off, event_idx=on|off, in_order=on|off, indirect=on|off, size=N, "
                    "mode=echo|sink or queues=N)");
    }
  }
  if (o.packed && split_given) return p.fail("'packed' and 'split' both given");
  return o;
}

}  // namespace

Result<DeviceId> DeviceId::parse(std::string_view text) {
  IdParser p(text);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return p.fail("no transport prefix (expected vhost-user:, pci: or loop:)");
  const std::string_view scheme = text.substr(0, colon);
  const auto parts = split_commas(text.substr(colon + 1));
  unsigned queues = 1;
  if (scheme == "vhost-user") {
    auto a = parse_vhost_user(p, parts, queues);
    if (!a) return std::move(a).error();
    return DeviceId(std::move(*a), queues);
  }
  if (scheme == "pci") {
    auto a = parse_pci_id(p, parts, queues);
    if (!a) return std::move(a).error();
    return DeviceId(*a, queues);
  }
  if (scheme == "loop") {
    auto o = parse_loop(p, parts, queues);
    if (!o) return std::move(o).error();
    return DeviceId(*o, queues);
  }
  return p.fail("unknown transport '" + std::string(scheme) + "' (expected vhost-user, pci or loop)");
}

std::string PciAddress::to_string() const {
  char b[16];
  std::snprintf(b, sizeof b, "%04x:%02x:%02x.%x", domain, bus, device, function);
  return b;
}

std::string DeviceId::to_string() const {
  const std::string q = queues_ == 1 ? "" : ",queues=" + std::to_string(queues_);
  switch (kind()) {
    case Kind::VhostUser: {
      const auto& v = vhost_user();
      std::string declined;
      for (auto [on, name] : {std::pair{v.accept.packed, "packed"}, {v.accept.mrg_rxbuf, "mrg_rxbuf"},
                              {v.accept.in_order, "in_order"}, {v.accept.event_idx, "event_idx"},
                              {v.accept.indirect, "indirect"}})
        if (!on) declined += "," + std::string(name) + "=off";
      return "vhost-user:" + v.socket_path + (v.server ? ",server" : "") + declined + q;
    }
    case Kind::Pci: return "pci:" + pci().to_string() + q;
    case Kind::None: return "";
    case Kind::Loop: break;
  }
  const LoopOptions& o = loop();
  const LoopOptions defaults;
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (o.packed) add("packed");
  if (o.mrg_rxbuf != defaults.mrg_rxbuf) add(std::string("mrg_rxbuf=") + (o.mrg_rxbuf ? "on" : "off"));
  if (o.event_idx != defaults.event_idx) add(std::string("event_idx=") + (o.event_idx ? "on" : "off"));
  if (o.in_order != defaults.in_order) add(std::string("in_order=") + (o.in_order ? "on" : "off"));
  if (o.indirect != defaults.indirect) add(std::string("indirect=") + (o.indirect ? "on" : "off"));
  if (o.queue_size != defaults.queue_size) add("size=" + std::to_string(o.queue_size));
  if (!o.echo) add("mode=sink");
  if (queues_ != 1) add("queues=" + std::to_string(queues_));
  return "loop:" + s;
}

}  // namespace netfront
