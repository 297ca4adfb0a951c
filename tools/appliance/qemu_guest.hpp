// Boots the appliance image in QEMU with one virtio-net-pci NIC (id "nic0") behind QEMU's user
// networking (a host UDP or TCP port forwarded to the guest) and keeps the guest's serial console:
// read from a thread so a chatty guest never blocks on a full pipe, written to for console
// commands. With a QMP socket, tests act on the NIC as a hypervisor does (link, announcements)
// and read what the device was told (query-rx-filter).
// Used by the README's main command and by the end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netfront/result.hpp"

namespace netfront::appliance {

// How the guest reaches its NIC (see docs/appliance.md): a PCI function bound to uio or vfio
// on a q35 machine, or a virtio-mmio device of QEMU's microvm machine.
enum class GuestPath { Uio, Vfio, Mmio };

struct GuestOptions {
  std::string kernel;     // build/appliance/vmlinuz
  std::string initramfs;  // build/appliance/initramfs.img
  GuestPath path = GuestPath::Uio;
  bool packed = false;
  bool mrg_rxbuf = true;
  std::uint16_t host_port = 0;  // forwarded from 127.0.0.1 on the host
  std::uint16_t guest_port = 7;
  std::string forward = "udp";  // what host_port forwards: "udp" (the echo appliance) or "tcp"
  std::string memory = "512M";
  bool kvm = false;          // -accel kvm -cpu host where KVM works; TCG otherwise
  // A NIC without the modern interface, driven through its legacy one: a virtio 0.9.5 PCI
  // function, or a version 1 virtio-mmio device.
  bool legacy_only = false;
  std::string append;        // more kernel options, e.g. "netfront.device=pci:0000:00:09.0"
  // Multi-queue: the NIC gets mq=on with this many queue pairs. QEMU's user networking has one
  // queue, so more than one needs `tap`: a multi_queue tap device QEMU attaches to (inside
  // network namespace `netns`, if set, where QEMU then runs).
  unsigned queues = 1;
  std::string tap;
  std::string netns;
  std::string qmp;  // a path for QEMU's QMP socket (-qmp unix:PATH,server=on,wait=off), or none
  std::string nic_options;  // more virtio-net-pci properties, e.g. ",rss=on,hash=on"
};

// The QEMU command line for `o` (also printed by the tools, so a run can be repeated by hand).
std::vector<std::string> qemu_command(const GuestOptions& o);

class QemuGuest {
 public:
  static Result<std::unique_ptr<QemuGuest>> boot(const GuestOptions& options);
  ~QemuGuest();  // kills QEMU (by its pid) if it is still running
  QemuGuest(const QemuGuest&) = delete;
  QemuGuest& operator=(const QemuGuest&) = delete;

  // Waits until the console has shown `text` (true) or the timeout passed or QEMU exited.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout);
  void send_line(const std::string& line);
  // Waits for QEMU to exit; true if it did in time. The guest powers off when told "stop".
  bool wait_exit(std::chrono::milliseconds timeout);
  std::string console() const;
  // Runs one QMP command (a JSON object: {"execute": ..., "arguments": ...}) on the socket of
  // GuestOptions::qmp, and gives QEMU's answer: its "return" line, or an error with its
  // "error" line. Asynchronous events QEMU sends meanwhile are skipped.
  Result<std::string> qmp(const std::string& command);
  pid_t pid() const noexcept { return pid_; }

 private:
  QemuGuest() = default;
  void pump();
  Result<std::string> qmp_line(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int console_in_ = -1;
  int console_out_ = -1;
  bool exited_ = false;
  mutable std::mutex mutex_;
  std::string console_;
  std::thread reader_;
  std::string qmp_path_;
  int qmp_fd_ = -1;
  std::string qmp_input_;  // read from the QMP socket, not yet a whole line
};

}  // namespace netfront::appliance
