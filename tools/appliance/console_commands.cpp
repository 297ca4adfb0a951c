#include "tools/appliance/console_commands.hpp"

#include <sstream>
#include <vector>

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
