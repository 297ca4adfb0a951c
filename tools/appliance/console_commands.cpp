#include "tools/appliance/console_commands.hpp"

#include <sstream>
#include <vector>

#include "netfront/rss.hpp"
#include "netfront/rx_filter.hpp"

namespace netfront::appliance {
namespace {

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

std::optional<RxMode> mode_named(std::string_view name) {
  for (std::size_t m = 0; m < kRxModes; ++m)
    if (to_string(static_cast<RxMode>(m)) == name) return static_cast<RxMode>(m);
  return std::nullopt;
}

// "a,b,c" or "-" as MACs; nullopt if one is not a MAC.
std::optional<std::vector<MacAddress>> macs_of(const std::string& list) {
  std::vector<MacAddress> out;
  if (list == "-") return out;
  std::istringstream in(list);
  for (std::string one; std::getline(in, one, ',');) {
    auto m = MacAddress::parse(one);
    if (!m) return std::nullopt;
    out.push_back(*m);
  }
  return out;
}

// "P,P,..." as queue pairs; nullopt if one is not a number.
std::optional<std::vector<std::uint16_t>> pairs_of(const std::string& list) {
  std::vector<std::uint16_t> out;
  std::istringstream in(list);
  for (std::string one; std::getline(in, one, ',');) {
    if (one.empty() || one.size() > 5 || one.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    const unsigned long n = std::stoul(one);
    if (n > 0xffff) return std::nullopt;
    out.push_back(static_cast<std::uint16_t>(n));
  }
  return out;
}

// "ipv4+udpv4" or "none" as hash types; nullopt if one is no type.
std::optional<HashTypes> types_of(const std::string& list) {
  HashTypes t;
  if (list == "none") return t;
  std::istringstream in(list);
  for (std::string one; std::getline(in, one, '+');) {
    unsigned i = 0;
    while (i < kHashTypes && to_string(static_cast<HashType>(i)) != one) ++i;
    if (i == kHashTypes) return std::nullopt;
    t = t.with(static_cast<HashType>(i));
  }
  return t;
}

// "steering, hash report, types ipv4+udpv4, key 6d5a..., table 0,1,0,1 (unclassified 0)".
std::string describe_rss(const Netif& dev) {
  const RssCapabilities caps = dev.rss_capabilities();
  if (!caps.steering && !caps.hash_report) return "none";
  const RssConfig c = dev.rss_config();
  std::string s = std::string(caps.steering ? "steering" : "no steering") + (caps.hash_report ? ", hash report" : "") +
                  ", types " + (c.hash_types.empty() ? std::string("none") : c.hash_types.to_string()) + ", key ";
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::uint8_t b : c.key) s += {kHex[b >> 4], kHex[b & 15]};
  if (c.key.empty()) s += "-";
  if (!caps.steering) return s;
  s += ", table ";
  for (std::size_t i = 0; i < c.indirection_table.size(); ++i) s += (i ? "," : "") + std::to_string(c.indirection_table[i]);
  return s + " (unclassified " + std::to_string(c.unclassified_pair) + ")";
}

std::string answer(const std::string& command, const Result<>& r) {
  return command + ": " + (r ? std::string("ok") : r.error().to_string());
}

}  // namespace

io<std::optional<std::string>> run_console_command(Netif& dev, std::string line) {
  const auto w = words_of(line);
  if (w.empty()) co_return std::nullopt;
  std::string command;
  for (const auto& s : w) command += (command.empty() ? "" : " ") + s;
  if (w[0] == "link" && w.size() == 1) co_return "link: " + dev.link_status().to_string();
  if (w[0] == "rx-mode") {
    const auto mode = w.size() == 3 ? mode_named(w[1]) : std::nullopt;
    if (!mode || (w[2] != "on" && w[2] != "off")) co_return command + ": expected rx-mode NAME on|off";
    const Result<> r = co_await dev.set_rx_mode(*mode, w[2] == "on");
    co_return answer(command, r);
  }
  if (w[0] == "mac") {
    const auto mac = w.size() == 2 ? MacAddress::parse(w[1]) : std::nullopt;
    if (!mac) co_return command + ": expected mac XX:XX:XX:XX:XX:XX";
    const Result<> r = co_await dev.set_mac(*mac);
    co_return answer(command, r);
  }
  if (w[0] == "mac-table") {
    const auto unicast = w.size() == 3 ? macs_of(w[1]) : std::nullopt;
    const auto multicast = w.size() == 3 ? macs_of(w[2]) : std::nullopt;
    if (!unicast || !multicast) co_return command + ": expected mac-table UNICAST,... MULTICAST,... ('-' for none)";
    const Result<> r = co_await dev.set_mac_filter(*unicast, *multicast);
    co_return answer(command, r);
  }
  if (w[0] == "rss" && w.size() == 1) co_return "rss: " + describe_rss(dev);
  if (w[0] == "rss") {
    RssConfig c = dev.rss_config();
    bool parsed = false;
    if (w.size() == 3 && w[1] == "table")
      if (auto t = pairs_of(w[2])) {
        c.indirection_table = *t;
        parsed = true;
      }
    if (w.size() == 3 && w[1] == "types")
      if (auto t = types_of(w[2])) {
        c.hash_types = *t;
        parsed = true;
      }
    if (!parsed) co_return command + ": expected rss, rss table P[,P...] or rss types T[+T...]";
    const Result<> r = co_await dev.set_rss(c);
    co_return answer(command, r);
  }
  if (w[0] == "vlan") {
    unsigned long id = 0;
    std::size_t used = 0;
    bool number = w.size() == 3;
    if (number) {
      try {
        id = std::stoul(w[2], &used);
      } catch (...) {
        number = false;
      }
    }
    if (!number || used != w[2].size() || id > 0xffff || (w[1] != "add" && w[1] != "remove"))
      co_return command + ": expected vlan add|remove N";
    const auto vlan = static_cast<std::uint16_t>(id);
    // (One co_await a statement: GCC 12 destroys the result of a co_await in a conditional twice.)
    Result<> r = Ok{};
    if (w[1] == "add")
      r = co_await dev.add_vlan(vlan);
    else
      r = co_await dev.remove_vlan(vlan);
    co_return answer(command, r);
  }
  co_return std::nullopt;
}

}  // namespace netfront::appliance
