#include "tools/appliance/qemu_guest.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

extern char** environ;

namespace netfront::appliance {

namespace {

// The host's TSC rate in kHz, from /proc/cpuinfo ("cpu MHz": the TSC rate on a VM without
// frequency scaling, as here; near it elsewhere); 0 if it does not say. Under TCG the guest
// reads the host's TSC; a rate somewhat off only makes the guest's clock run off as much.
unsigned long host_tsc_khz() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("cpu MHz", 0) == 0) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) return 0;
      const double mhz = std::strtod(line.c_str() + colon + 1, nullptr);
      return mhz > 1 && mhz < 100000 ? static_cast<unsigned long>(mhz * 1000) : 0;
    }
  return 0;
}

}  // namespace

std::vector<std::string> qemu_command(const GuestOptions& o) {
  const bool vfio = o.path == GuestPath::Vfio;
  const bool mmio = o.path == GuestPath::Mmio;
  std::string append = "console=ttyS0 quiet panic=-1 netfront.port=" + std::to_string(o.guest_port);
  if (!mmio) append += vfio ? " netfront.path=vfio intel_iommu=on iommu=pt" : " netfront.path=uio";
  // microvm has no HPET nor ACPI PM timer: the kernel calibrates its TSC against the PIT alone,
  // which under TCG on a busy host sometimes fails, and then the boot hangs (seen: 2 in 9). The
  // rate given, nothing is calibrated.
  if (const unsigned long khz = mmio ? host_tsc_khz() : 0; khz != 0) append += " tsc_early_khz=" + std::to_string(khz);
  if (!o.append.empty()) append += " " + o.append;
  std::string nic;
  if (mmio) nic = "virtio-net-device,id=nic0,netdev=n0";  // its version: -global virtio-mmio.force-legacy below
  else if (o.legacy_only) nic = "virtio-net-pci,id=nic0,netdev=n0,disable-legacy=off,disable-modern=on,romfile=";
  else nic = "virtio-net-pci,id=nic0,netdev=n0,disable-legacy=on,romfile=";
  if (!o.legacy_only) nic += o.packed ? ",packed=on" : ",packed=off";
  nic += o.mrg_rxbuf ? ",mrg_rxbuf=on" : ",mrg_rxbuf=off";
  if (vfio) nic += ",iommu_platform=on,ats=on";
  if (o.queues > 1) nic += ",mq=on,vectors=" + std::to_string(2 * o.queues + 2);
  nic += o.nic_options;
  std::vector<std::string> cmd;
  if (!o.netns.empty()) cmd = {"ip", "netns", "exec", o.netns};
  cmd.insert(cmd.end(), {"qemu-system-x86_64", "-accel", o.kvm ? "kvm" : "tcg", "-cpu", o.kvm ? "host" : "max",
                                  "-smp", "1", "-m", o.memory,
                                  "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"});
  if (vfio) {
    // An emulated IOMMU for VFIO; interrupt remapping needs the split irqchip.
    cmd.insert(cmd.end(), {"-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on,caching-mode=on"});
  } else if (mmio) {
    // No PCI: the NIC is a virtio-mmio device the firmware (ACPI) describes.
    cmd.insert(cmd.end(), {"-M", "microvm,acpi=on", "-global",
                           std::string("virtio-mmio.force-legacy=") + (o.legacy_only ? "on" : "off")});
  } else {
    cmd.insert(cmd.end(), {"-M", "q35"});
  }
  const std::string netdev =
      o.tap.empty() ? "user,id=n0,hostfwd=" + o.forward + ":127.0.0.1:" + std::to_string(o.host_port) + "-:" + std::to_string(o.guest_port)
                    : "tap,id=n0,ifname=" + o.tap + ",script=no,downscript=no,vhost=off,queues=" + std::to_string(o.queues);
  cmd.insert(cmd.end(), {"-kernel", o.kernel, "-initrd", o.initramfs, "-append", append, "-netdev", netdev, "-device", nic});
  if (!o.qmp.empty()) cmd.insert(cmd.end(), {"-qmp", "unix:" + o.qmp + ",server=on,wait=off"});
  return cmd;
}

Result<std::unique_ptr<QemuGuest>> QemuGuest::boot(const GuestOptions& o) {
  for (const std::string* f : {&o.kernel, &o.initramfs})
    if (::access(f->c_str(), R_OK) != 0)
      return Error::unknown(*f + " is missing: build the image first (tools/appliance/build-image.sh)");
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return Error::unknown("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  const auto cmd = qemu_command(o);
  std::vector<char*> argv;
  for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::unique_ptr<QemuGuest> g(new QemuGuest);
  const int rc = ::posix_spawnp(&g->pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  g->console_in_ = in[1];
  g->console_out_ = out[0];
  if (rc != 0) {
    g->pid_ = -1;
    return Error::unknown(std::string("cannot start qemu-system-x86_64: ") + std::strerror(rc));
  }
  g->reader_ = std::thread([p = g.get()] { p->pump(); });
  g->qmp_path_ = o.qmp;
  return g;
}

QemuGuest::~QemuGuest() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (qmp_fd_ >= 0) ::close(qmp_fd_);
  if (console_in_ >= 0) ::close(console_in_);
  if (reader_.joinable()) reader_.join();  // ends at EOF, once QEMU is gone
  if (console_out_ >= 0) ::close(console_out_);
}

void QemuGuest::pump() {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(console_out_, buf, sizeof buf);
    if (n > 0) {
      std::lock_guard lock(mutex_);
      console_.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return;
    }
  }
}

bool QemuGuest::wait_for(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (console_.find(text) != std::string::npos) return true;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (!exited_ && ::waitpid(pid_, nullptr, WNOHANG) == pid_) exited_ = true;
    if (exited_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the reader drain
      std::lock_guard lock(mutex_);
      return console_.find(text) != std::string::npos;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void QemuGuest::send_line(const std::string& line) {
  const std::string text = line + "\n";
  (void)!::write(console_in_, text.data(), text.size());
}

bool QemuGuest::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited_) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      exited_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// One line from the QMP socket, waiting at most `timeout` for it.
Result<std::string> QemuGuest::qmp_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto end = qmp_input_.find('\n'); end != std::string::npos) {
      std::string line = qmp_input_.substr(0, end);
      qmp_input_.erase(0, end + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error::unknown("QMP: no answer from QEMU in time");
    pollfd p{qmp_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(qmp_fd_, buf, sizeof buf);
    if (n <= 0) return Error::unknown("QMP: QEMU closed the socket");
    qmp_input_.append(buf, static_cast<std::size_t>(n));
  }
}

Result<std::string> QemuGuest::qmp(const std::string& command) {
  using namespace std::chrono_literals;
  if (qmp_path_.empty()) return Error::unknown("QMP: the guest was booted without a QMP socket");
  auto answer = [&]() -> Result<std::string> {
    for (;;) {
      auto line = qmp_line(10s);
      if (!line) return line;
      if (line->find("\"return\"") != std::string::npos) return line;
      if (line->find("\"error\"") != std::string::npos) return Error::unknown("QMP: " + *line);
      // An event ({"event": ...}) or the greeting: not the answer.
    }
  };
  auto send = [&](const std::string& json) {
    const std::string text = json + "\n";
    return ::send(qmp_fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  };
  if (qmp_fd_ < 0) {
    // QEMU makes the socket as it starts: wait for it a little.
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (qmp_path_.size() >= sizeof a.sun_path) return Error::unknown("QMP: socket path too long");
    std::memcpy(a.sun_path, qmp_path_.c_str(), qmp_path_.size() + 1);
    for (int attempt = 0; attempt < 100 && qmp_fd_ < 0; ++attempt) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return Error::unknown(std::string("QMP: socket: ") + std::strerror(errno));
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
        qmp_fd_ = fd;
        break;
      }
      ::close(fd);
      std::this_thread::sleep_for(100ms);
    }
    if (qmp_fd_ < 0) return Error::unknown("QMP: cannot connect to " + qmp_path_);
    // The greeting ({"QMP": ...}), then capabilities negotiation to leave its mode.
    if (auto greeting = qmp_line(10s); !greeting) return greeting;
    if (!send(R"({"execute": "qmp_capabilities"})")) return Error::unknown("QMP: cannot send");
    if (auto r = answer(); !r) return r;
  }
  if (!send(command)) return Error::unknown("QMP: cannot send");
  return answer();
}

std::string QemuGuest::console() const {
  std::lock_guard lock(mutex_);
  return console_;
}

}  // namespace netfront::appliance
