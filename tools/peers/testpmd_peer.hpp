// dpdk-testpmd as a vhost-user backend, started and stopped by the program that needs it
// (the integration tests, the soak tool).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace netfront::testing {

class TestpmdPeer {
 public:
  struct Options {
    std::string socket;            // vhost-user socket path
    std::string mode = "macswap";  // --forward-mode
    bool client = false;           // testpmd connects to us (netfront in server mode)
    unsigned queues = 1;           // queue pairs of its vhost port (and its rxq/txq)
    std::vector<std::string> extra{};  // more testpmd application arguments
    std::string vhost_args{};      // more net_vhost arguments, e.g. "tso=1"
    // When set, a second port (net_pcap) writes every frame the vhost port receives into this
    // file, and testpmd prints what its vhost port said of each (verbose): `captured()` and
    // `received_flags()` read them back after stop().
    std::string capture{};
    // When set, a second port (net_tap) is a Linux tap of this name in testpmd's network
    // namespace, and testpmd bridges it with the vhost port: give mode "io".
    std::string tap{};
  };

  // One frame of the capture: its length on the wire and the bytes kept (net_pcap keeps at
  // most 16128 of a longer frame).
  struct Captured {
    std::size_t length = 0;
    std::vector<std::byte> bytes;
  };

  // Starts testpmd; in server mode (client = false) waits until its socket exists.
  // An empty `error()` means it runs.
  explicit TestpmdPeer(const Options& options);
  ~TestpmdPeer();
  TestpmdPeer(const TestpmdPeer&) = delete;
  TestpmdPeer& operator=(const TestpmdPeer&) = delete;

  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }

  // SIGINT, then SIGKILL if it does not exit within 10 s. Idempotent.
  void stop();
  // SIGKILL at once: a backend that dies.
  void kill_hard();

  // Its final port counters (valid after stop()).
  std::uint64_t rx_packets() const;
  std::uint64_t tx_packets() const;
  // One queue's final counters, from the per-stream statistics testpmd prints at its end when
  // a port has more than one queue (valid after stop()).
  std::uint64_t queue_rx_packets(unsigned queue) const;
  std::uint64_t queue_tx_packets(unsigned queue) const;
  std::string log() const;
  // The frames of `Options::capture`, in the order they arrived (valid after stop()).
  std::vector<Captured> captured() const;
  // For each frame the vhost port received, the mbuf flags it set ("RTE_MBUF_F_RX_LRO ..."),
  // in order (needs `Options::capture`).
  std::vector<std::string> received_flags() const;

 private:
  void reap(int timeout_ms);
  Options options_;
  std::string dir_, log_path_, prefix_;
  pid_t pid_ = -1;
  std::string error_;
};

// A fresh directory for sockets and logs, removed by the caller's TearDown if wanted. Throws
// std::runtime_error when none can be made (never hands out a directory others use).
std::string make_temp_dir();

}  // namespace netfront::testing
