#include "drivers/virtio/transport/vhost_kernel/tap.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netfront::virtio::transport::vhost_kernel {
namespace {

Fault system_fault(const std::string& what) { return Fault(TransportError::System, what + ": " + std::strerror(errno)); }

// What the kernel takes as an interface name (net/core/dev.c dev_valid_name): not "." or
// "..", no '/', ':' or white space, which its isspace() says of byte 0xa0 too (lib/ctype.c);
// TUNSETIFF answers any other with EINVAL, which reads as a tap of another kind. No '%'
// either, which would have the kernel pick the name, nor a NUL, which would cut it short; and
// no control character, as the device id's parser has it.
bool valid_interface_name(const std::string& name) noexcept {
  if (name == "." || name == "..") return false;
  for (const char c : name) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x21 || b == 0x7f || b == 0xa0 || c == '/' || c == ':' || c == '%') return false;
  }
  return true;
}

}  // namespace

Result<Tap> Tap::open(const std::string& name, unsigned queues) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return Fault(TransportError::BadRequest, "tap name '" + name + "' is not 1 to " + std::to_string(IFNAMSIZ - 1) + " characters");
  if (!valid_interface_name(name))
    return Fault(TransportError::BadRequest, "tap name '" + name + "' is not an interface name (no '/', ':', '%', white space or "
                                             "control characters; not . or ..)");
  // The 257th queue file of a tap gets E2BIG from TUNSETIFF.
  if (queues == 0 || queues > kMaxQueues)
    return Fault(TransportError::BadRequest, "a tap has 1 to " + std::to_string(kMaxQueues) + " queues, not " + std::to_string(queues));
  Tap tap;
  tap.name_ = name;
  for (unsigned q = 0; q < queues; ++q) {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Fault(TransportError::Unsupported, "no /dev/net/tun: this kernel has no tun driver loaded (modprobe tun)");
      return system_fault("open /dev/net/tun");
    }
    tap.fds_.push_back(fd);
    tap.attached_.push_back(true);
    if (q == 0) {
      unsigned features = 0;
      if (::ioctl(fd, TUNGETFEATURES, &features) != 0) return system_fault("TUNGETFEATURES");
      const unsigned needed = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
      if ((features & needed) != needed)
        return Fault(TransportError::Unsupported, "the tun driver lacks virtio-net headers or multi-queue taps");
    }
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.c_str(), name.size() + 1);
    // Always multi-queue, so that a tap made ahead for netfront is made one way only.
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
      if (errno == EINVAL || errno == EBUSY)
        return Fault(TransportError::Refused, "tap " + name + " exists and cannot be attached to as a multi-queue tap with "
                                              "virtio-net headers (" + std::strerror(errno) + ")");
      return system_fault("TUNSETIFF " + name);
    }
    // The name the kernel gave: it may differ when `name` held a pattern.
    if (std::strncmp(ifr.ifr_name, name.c_str(), IFNAMSIZ) != 0)
      return Fault(TransportError::BadRequest, "tap name '" + name + "' became '" + ifr.ifr_name + "'");
  }
  return tap;
}

Tap& Tap::operator=(Tap&& other) noexcept {
  if (this != &other) {
    for (int fd : fds_) ::close(fd);
    name_ = std::move(other.name_);
    fds_ = std::move(other.fds_);
    attached_ = std::move(other.attached_);
    other.fds_.clear();
  }
  return *this;
}

Tap::~Tap() {
  for (int fd : fds_) ::close(fd);
}

Result<> Tap::each_fd(unsigned long request, unsigned long arg, const char* what) {
  for (int fd : fds_)
    if (::ioctl(fd, request, arg) != 0) return system_fault(std::string(what) + " on tap " + name_);
  return Ok{};
}

Result<> Tap::set_header_length(int bytes) {
  for (int fd : fds_)
    if (::ioctl(fd, TUNSETVNETHDRSZ, &bytes) != 0) return system_fault("TUNSETVNETHDRSZ on tap " + name_);
  return Ok{};
}

Result<> Tap::set_offloads(unsigned tun_flags) { return each_fd(TUNSETOFFLOAD, tun_flags, "TUNSETOFFLOAD"); }

Result<> Tap::attach(unsigned queue, bool attach) {
  if (queue >= fds_.size()) return Fault(TransportError::BadRequest, "tap " + name_ + " has no queue " + std::to_string(queue));
  if (attached_[queue] == attach) return Ok{};
  ifreq ifr{};
  ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (::ioctl(fds_[queue], TUNSETQUEUE, &ifr) != 0) return system_fault("TUNSETQUEUE on tap " + name_);
  attached_[queue] = attach;
  return Ok{};
}

}  // namespace netfront::virtio::transport::vhost_kernel
