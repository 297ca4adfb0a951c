#include "tools/appliance/pid1.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <algorithm>
#include <fstream>

#include "drivers/virtio/transport/mmio/discovery.hpp"
#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/pci/sysfs.hpp"
#include "netfront/device_id.hpp"

namespace netfront::appliance::pid1 {
namespace {

std::string errno_text() { return std::strerror(errno); }

Result<> write_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error::unknown("open " + path + ": " + errno_text());
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) return Error::unknown("write '" + text + "' to " + path + ": " + std::strerror(err));
  return Ok{};
}

std::string read_word(const std::string& path) {
  std::ifstream in(path);
  std::string w;
  in >> w;
  return w;
}

}  // namespace

Result<> mount_file_systems() {
  struct Mount {
    const char* source;
    const char* target;
    const char* type;
    const char* data;
  };
  const Mount mounts[] = {
      {"proc", "/proc", "proc", nullptr},       {"sysfs", "/sys", "sysfs", nullptr},
      {"devtmpfs", "/dev", "devtmpfs", nullptr}, {"hugetlbfs", "/dev/hugepages", "hugetlbfs", "pagesize=2M"},
      {"tmpfs", "/run", "tmpfs", "mode=0755"},  {"tmpfs", "/tmp", "tmpfs", "mode=1777"},
  };
  for (const Mount& m : mounts) {
    ::mkdir(m.target, 0755);
    if (::mount(m.source, m.target, m.type, 0, m.data) != 0 && errno != EBUSY)
      return Error::unknown(std::string("mount ") + m.type + " on " + m.target + ": " + errno_text());
  }
  ::mkdir("/var", 0755);
  ::symlink("/run", "/var/run");  // DPDK keeps its runtime files under /var/run
  return Ok{};
}

std::map<std::string, std::string> kernel_options() {
  std::map<std::string, std::string> options;
  std::ifstream in("/proc/cmdline");
  for (std::string word; in >> word;) {
    if (word.rfind("netfront.", 0) != 0) continue;
    const auto eq = word.find('=');
    options[word.substr(9, eq == std::string::npos ? std::string::npos : eq - 9)] =
        eq == std::string::npos ? "1" : word.substr(eq + 1);
  }
  return options;
}

Result<> reserve_hugepages(unsigned count) {
  if (auto r = write_file("/proc/sys/vm/nr_hugepages", std::to_string(count)); !r) return r;
  const std::string got = read_word("/proc/sys/vm/nr_hugepages");
  if (got != std::to_string(count))
    return Error::unknown("asked the kernel for " + std::to_string(count) + " hugepages, got " + got);
  return Ok{};
}

Result<> load_modules(const std::string& dir, const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    const std::string path = dir + "/" + file;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::unknown("open module " + path + ": " + errno_text());
    const long r = ::syscall(SYS_finit_module, fd, "", 0);
    const int err = errno;
    ::close(fd);
    if (r != 0 && err != EEXIST) return Error::unknown("load module " + path + ": " + std::strerror(err));
  }
  return Ok{};
}

bool iommu_present() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/sys/kernel/iommu_groups", ec);
  return !ec && it != std::filesystem::directory_iterator();
}

// The driver's own definition of a virtio-net function, so /init never binds one that
// connect would then refuse as "not a network device".
bool is_virtio_net(const std::string& address) {
  const std::string dir = "/sys/bus/pci/devices/" + address;
  const auto vendor = virtio::transport::pci::sysfs::read_number(dir + "/vendor");
  const auto device = virtio::transport::pci::sysfs::read_number(dir + "/device");
  const auto subsystem = virtio::transport::pci::sysfs::read_number(dir + "/subsystem_device");
  return vendor && device &&
         virtio::transport::pci::check_virtio_net_identity(static_cast<std::uint16_t>(*vendor), static_cast<std::uint16_t>(*device),
                                                static_cast<std::uint16_t>(subsystem.value_or(0)));
}

std::string find_virtio_net() {
  std::error_code ec;
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/bus/pci/devices", ec))
    if (is_virtio_net(entry.path().filename().string())) found.push_back(entry.path().filename().string());
  std::sort(found.begin(), found.end());
  return found.empty() ? "" : found.front();
}

Result<std::string> find_virtio_net_mmio() {
  auto window = virtio::transport::mmio::find_virtio_net_window();
  if (!window) return window.error().to_error();
  return "mmio:" + MmioAddress{*window}.to_string();
}

Result<> bind(const std::string& address, const std::string& driver) {
  const std::string dir = "/sys/bus/pci/devices/" + address;
  if (auto r = write_file(dir + "/driver_override", driver); !r) return r;
  if (::access((dir + "/driver").c_str(), F_OK) == 0)
    if (auto r = write_file(dir + "/driver/unbind", address); !r) return r;
  (void)write_file("/sys/bus/pci/drivers_probe", address);  // fails harmlessly if already bound
  auto id = DeviceId::parse("pci:" + address);
  if (!id) return std::move(id).error();
  const std::string bound = virtio::transport::pci::sysfs::bound_driver(id->pci());
  if (bound != driver) return Error::unknown(address + " did not bind to " + driver + (bound.empty() ? "" : " (bound to " + bound + ")"));
  return Ok{};
}

Result<> configure_interface(const std::string& name, const std::string& ip, unsigned prefix) {
  if (name.empty() || name.size() >= IFNAMSIZ || prefix > 32) return Error::unknown(Error::Cause::BadArgument, "bad interface " + name);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (::inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1)
    return Error::unknown(Error::Cause::BadArgument, "'" + ip + "' is not an IPv4 address");
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::unknown("socket: " + errno_text());
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size() + 1);
  const char* failed = nullptr;
  std::memcpy(&ifr.ifr_addr, &address, sizeof address);
  if (::ioctl(fd, SIOCSIFADDR, &ifr) != 0) failed = "SIOCSIFADDR";
  address.sin_addr.s_addr = htonl(prefix == 0 ? 0 : ~0u << (32 - prefix));
  std::memcpy(&ifr.ifr_netmask, &address, sizeof address);
  if (!failed && ::ioctl(fd, SIOCSIFNETMASK, &ifr) != 0) failed = "SIOCSIFNETMASK";
  if (!failed && ::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) failed = "SIOCGIFFLAGS";
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (!failed && ::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) failed = "SIOCSIFFLAGS";
  const std::string why = failed ? std::string(failed) + " on " + name + ": " + errno_text() : "";
  ::close(fd);
  if (failed) return Error::unknown(why);
  return Ok{};
}

void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  for (;;) ::pause();  // reboot() returns only if we are not allowed to: nothing else to do
}

double uptime_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void GuestNic::read(const std::map<std::string, std::string>& k) {
  auto get = [&](const char* key) -> const std::string* {
    auto it = k.find(key);
    return it == k.end() ? nullptr : &it->second;
  };
  if (auto* v = get("device")) device = *v;
  if (auto* v = get("path")) path = *v;
  if (auto* v = get("bind")) bind = *v;
  if (auto* v = get("hugepages")) hugepages = static_cast<unsigned>(std::stoul(*v));
}

Result<std::string> prepare_nic(GuestNic& nic) {
  if (auto r = reserve_hugepages(nic.hugepages); !r) return r.error();
  if (nic.device.rfind("vhost-net:", 0) == 0) {
    // The kernel's half of the device: the tap and vhost-net (which needs both).
    if (auto r = load_modules("/lib/modules", {"tun.ko", "tap.ko", "vhost_iotlb.ko", "vhost.ko", "vhost_net.ko"}); !r)
      return r.error();
    return "vhost-net and tun loaded; " + std::to_string(nic.hugepages) + " hugepages reserved";
  }
  std::string address;
  if (nic.device.empty()) {
    address = find_virtio_net();
    if (address.empty()) {
      // A microVM's NIC is a virtio-mmio device: nothing to bind, netfront maps its window.
      auto mmio = find_virtio_net_mmio();
      if (!mmio) return Error::unknown("this guest has no virtio-net PCI function, nor a virtio-mmio one: " + mmio.error().message());
      nic.device = *mmio;
      return nic.device + " found";
    }
    nic.device = "pci:" + address;
  } else if (nic.device.rfind("pci:", 0) == 0) {
    address = nic.device.substr(4);
  }
  // Anything but a virtio-net function is left alone; connect then says what is wrong with it.
  if (address.empty() || !is_virtio_net(address)) return std::string();
  if (nic.bind == "0") return std::string();
  const bool vfio = nic.path == "vfio" || (nic.path == "auto" && iommu_present());
  const std::vector<std::string> modules =
      vfio ? std::vector<std::string>{"irqbypass.ko", "vfio.ko", "vfio_iommu_type1.ko", "vfio_virqfd.ko", "vfio-pci-core.ko", "vfio-pci.ko"}
           : std::vector<std::string>{"uio.ko", "uio_pci_generic.ko"};
  if (auto r = load_modules("/lib/modules", modules); !r) return r.error();
  const std::string driver = vfio ? "vfio-pci" : "uio_pci_generic";
  if (auto r = bind(address, driver); !r) return r.error();
  return address + " bound to " + driver + "; " + std::to_string(nic.hugepages) + " hugepages reserved";
}
}  // namespace netfront::appliance::pid1
