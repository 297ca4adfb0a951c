// What the appliance does when it is the guest's /init: the work a distribution's init and
// udev would do, and nothing more. File systems the runtime needs, hugepages, the kernel
// modules of the chosen way into the NIC, the NIC handed to that module, power-off at the end.
// No shell and no helper programs: plain system calls.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "netfront/result.hpp"

namespace netfront::appliance::pid1 {

// /proc, /sys, /dev (devtmpfs), /dev/hugepages (hugetlbfs), /run and /tmp (tmpfs).
Result<> mount_file_systems();
// "netfront.key=value" words of the kernel command line, without the prefix.
std::map<std::string, std::string> kernel_options();
Result<> reserve_hugepages(unsigned count);
// Loads each module file in order from `dir` (finit_module; one already loaded is fine).
Result<> load_modules(const std::string& dir, const std::vector<std::string>& files);
// True when the kernel has an IOMMU with groups (VFIO can be used).
bool iommu_present();
// The first virtio-net PCI function ("0000:00:03.0"), or "" if there is none.
std::string find_virtio_net();
// The device id ("mmio:0x...") of the first virtio-mmio network device (a microVM's NIC);
// the error says why there is none.
Result<std::string> find_virtio_net_mmio();
// Whether `address` is a virtio-net PCI function (only those are ever rebound).
bool is_virtio_net(const std::string& address);
// Binds the function to `driver` through driver_override, unbinding it first if needed.
Result<> bind(const std::string& address, const std::string& driver);
// Gives the kernel's interface `name` the IPv4 address `ip` with a /`prefix` netmask and brings
// it up (what `ip addr add` and `ip link set up` would do).
Result<> configure_interface(const std::string& name, const std::string& ip, unsigned prefix);
// The NIC an appliance serves, as its kernel options (netfront.device, .path, .bind,
// .hugepages) give it.
struct GuestNic {
  std::string device;  // empty: the first virtio-net PCI function, else the first virtio-mmio one
  std::string path = "auto";  // vfio, uio, or auto (vfio where the guest has an IOMMU)
  std::string bind = "1";     // "0": leave the function's driver alone
  // 192 MiB: DPDK's memory (mbuf headers, mempools) and the device memory (rings and the
  // receive pool's data rooms, about 18 MiB a device) both come from them.
  unsigned hugepages = 96;
  void read(const std::map<std::string, std::string>& kernel_options);
};
// Hugepages, the modules of the way into the NIC, the NIC bound to vfio-pci or uio_pci_generic
// (a vhost-net device: the tap and vhost-net modules). Fills in nic.device when it was left to
// be found. Says what it did ("" when nothing needed doing).
Result<std::string> prepare_nic(GuestNic& nic);
// Flushes and powers the machine off (QEMU exits). Never returns.
[[noreturn]] void power_off();
// Seconds since the kernel started.
double uptime_seconds();

}  // namespace netfront::appliance::pid1
