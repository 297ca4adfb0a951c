#include "drivers/virtio/transport/mmio/discovery.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

#include "drivers/virtio/transport/mmio/mmio_spec.hpp"
#include "drivers/virtio/transport/mmio/mmio_transport.hpp"

namespace netfront::virtio::transport::mmio {

// Lines of /proc/iomem: "  feb00000-feb001ff : LNRO0005:00", nested by indentation.
std::vector<std::uint64_t> listed_windows(std::string_view iomem) {
  std::vector<std::uint64_t> found;
  while (!iomem.empty()) {
    const std::size_t eol = iomem.find('\n');
    std::string_view line = iomem.substr(0, eol);
    iomem = eol == std::string_view::npos ? std::string_view{} : iomem.substr(eol + 1);
    const std::size_t colon = line.find(" : ");
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(colon + 3);
    if (name.rfind("LNRO0005", 0) != 0 && name.find("virtio-mmio") == std::string_view::npos) continue;
    std::string_view range = line.substr(0, colon);
    while (!range.empty() && range.front() == ' ') range.remove_prefix(1);
    const std::size_t dash = range.find('-');
    if (dash == std::string_view::npos) continue;
    std::uint64_t start = 0, end = 0;
    const auto a = std::from_chars(range.data(), range.data() + dash, start, 16);
    const auto b = std::from_chars(range.data() + dash + 1, range.data() + range.size(), end, 16);
    if (a.ec != std::errc{} || b.ec != std::errc{} || end < start || end - start + 1 < kWindowSize || start == 0) continue;
    // A driver's region nests inside the firmware's one, at the same address: listed once.
    if (std::find(found.begin(), found.end(), start) == found.end()) found.push_back(start);
  }
  return found;
}

Result<std::uint64_t> find_virtio_net_window() {
  std::ifstream in("/proc/iomem");
  std::stringstream text;
  text << in.rdbuf();
  const auto windows = listed_windows(text.str());
  if (windows.empty()) return Fault(TransportError::NoSuchDevice, "this machine lists no virtio-mmio devices in /proc/iomem");
  std::string why;
  for (std::uint64_t at : windows) {
    auto w = map_device_window(at);
    if (!w) {
      why = w.error().message();
      continue;
    }
    if (check_virtio_net_window(**w)) return at;
  }
  return Fault(TransportError::NoSuchDevice, "none of the " + std::to_string(windows.size()) + " virtio-mmio devices is a network device" +
                                                 (why.empty() ? "" : " (" + why + ")"));
}

}  // namespace netfront::virtio::transport::mmio
