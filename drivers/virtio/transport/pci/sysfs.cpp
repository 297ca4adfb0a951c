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

std::array<std::uint64_t, 6> memory_bar_sizes(const PciAddress& a) {
  // Each line: start end flags, in hex; IORESOURCE_MEM is 0x200.
  std::array<std::uint64_t, 6> sizes{};
  std::ifstream in(device_dir(a) + "/resource");
  for (auto& size : sizes) {
    unsigned long long start = 0, end = 0, flags = 0;
    if (!(in >> std::hex >> start >> end >> flags)) break;
    if ((flags & 0x200) && end > start) size = end - start + 1;
  }
  return sizes;
}

}  // namespace netfront::virtio::transport::pci::sysfs
