#include "drivers/virtio/transport/pci/sysfs.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace netfront::virtio::transport::pci::sysfs {

std::string device_dir(const PciAddress& a) { return "/sys/bus/pci/devices/" + a.to_string(); }

std::optional<std::uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
  if (end == text.c_str() || *end != '\0') return std::nullopt;
  return v;
}

std::string bound_driver(const PciAddress& a) {
  char target[256];
  const ssize_t n = ::readlink((device_dir(a) + "/driver").c_str(), target, sizeof target - 1);
  if (n <= 0) return "";
  target[n] = '\0';
  const std::string path(target);
  return path.substr(path.rfind('/') + 1);
}

namespace {

constexpr unsigned long long kResourceIo = 0x100, kResourceMemory = 0x200;  // IORESOURCE_IO, IORESOURCE_MEM

struct Resource {
  unsigned long long start = 0, end = 0, flags = 0;
  std::uint64_t size() const { return end > start ? end - start + 1 : 0; }
};

// The "resource" file: one line per BAR (then the ROM and bridge windows), "start end flags"
// in hex.
std::array<Resource, 6> bar_resources(const PciAddress& a) {
  std::array<Resource, 6> bars{};
  std::ifstream in(device_dir(a) + "/resource");
  for (auto& r : bars)
    if (!(in >> std::hex >> r.start >> r.end >> r.flags)) break;
  return bars;
}

}  // namespace

std::array<std::uint64_t, 6> memory_bar_sizes(const PciAddress& a) {
  std::array<std::uint64_t, 6> sizes{};
  const auto bars = bar_resources(a);
  for (unsigned i = 0; i < sizes.size(); ++i)
    if (bars[i].flags & kResourceMemory) sizes[i] = bars[i].size();
  return sizes;
}

std::optional<PortRange> io_bar(const PciAddress& a, unsigned bar) {
  if (bar >= 6) return std::nullopt;
  const Resource r = bar_resources(a)[bar];
  if (!(r.flags & kResourceIo) || r.size() == 0) return std::nullopt;
  return PortRange{r.start, r.size()};
}

}  // namespace netfront::virtio::transport::pci::sysfs
