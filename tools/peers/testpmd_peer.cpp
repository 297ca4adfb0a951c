#include "tools/peers/testpmd_peer.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace netfront::testing {

std::string make_temp_dir() {
  char tmpl[] = "/tmp/netfront-test-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  // No fallback to a shared directory: callers remove what they were given.
  if (!d) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  return d;
}

namespace {
// A pcap file's global header and nothing else (little-endian, version 2.4, Ethernet).
constexpr std::array<char, 24> kEmptyPcap = {'\xd4', '\xc3', '\xb2', '\xa1', 2, 0, 4, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, '\xff', '\xff', 0, 0, 1, 0, 0, 0};
}  // namespace

TestpmdPeer::TestpmdPeer(const Options& o) : options_(o) {
  static std::atomic<unsigned> serial{0};
  prefix_ = "nftp" + std::to_string(::getpid()) + "x" + std::to_string(serial++);
  dir_ = make_temp_dir();
  log_path_ = dir_ + "/testpmd.log";
  if (!o.tap.empty() && !o.capture.empty()) {
    error_ = "a tap bridge and a capture are two uses of testpmd's second port";
    return;
  }
  std::string vdev = "net_vhost0,iface=" + o.socket + ",queues=" + std::to_string(o.queues);
  if (o.client) vdev += ",client=1";
  if (!o.vhost_args.empty()) vdev += "," + o.vhost_args;
  // Backend on CPU 1 (its forwarding lcore), main lcore on CPU 0; its memory is its own
  // memfd, ours reaches it by file descriptor. --no-flush-rx: testpmd otherwise drains and
  // drops, uncounted, whatever its queues hold when forwarding starts, for up to a second;
  // a frontend that connects before that start would lose its first frames to it.
  std::vector<std::string> args = {"dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--no-pci", "--no-huge", "-m", "512",
                                   "--file-prefix", prefix_, "--vdev", vdev, "--", "--forward-mode=" + o.mode,
                                   "--port-topology=loop", "--auto-start", "--no-flush-rx", "--stats-period", "1", "--nb-cores=1",
                                   "--total-num-mbufs=16384", "--rxq=" + std::to_string(o.queues),
                                   "--txq=" + std::to_string(o.queues)};
  if (!o.capture.empty()) {
    // net_pcap needs a file to read as well: an empty capture gives it nothing to forward
    // back. Paired ports: what the vhost port receives goes out through the capture port.
    const std::string empty = dir_ + "/empty.pcap", commands = dir_ + "/commands";
    std::ofstream(empty, std::ios::binary).write(kEmptyPcap.data(), kEmptyPcap.size());
    std::ofstream(commands) << "set verbose 1\n";
    args.insert(std::find(args.begin(), args.end(), "--"), {"--vdev", "net_pcap0,rx_pcap=" + empty + ",tx_pcap=" + o.capture});
    args.push_back("--port-topology=paired");
    args.push_back("--cmdline-file=" + commands);
  }
  if (!o.tap.empty()) {
    // A bridge: what one port receives the other sends (io forwarding between paired ports).
    args.insert(std::find(args.begin(), args.end(), "--"), {"--vdev", "net_tap0,iface=" + o.tap});
    args.push_back("--port-topology=paired");
  }
  args.insert(args.end(), o.extra.begin(), o.extra.end());

  pid_ = ::fork();
  if (pid_ == 0) {
    std::FILE* log = std::fopen(log_path_.c_str(), "w");
    if (log) {
      ::dup2(::fileno(log), 1);
      ::dup2(::fileno(log), 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  if (o.client) return;
  for (int i = 0; i < 300; ++i) {  // up to 15 s for its EAL and socket
    if (std::filesystem::exists(o.socket)) return;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "dpdk-testpmd exited at start:\n" + log();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "dpdk-testpmd did not create " + o.socket + ":\n" + log();
}

TestpmdPeer::~TestpmdPeer() {
  stop();
  // Its log (read through log() while the peer lives) and socket go with it, as does DPDK's
  // runtime directory for its file prefix: no run leaves anything for the next one.
  std::error_code ec;
  std::filesystem::remove_all("/var/run/dpdk/" + prefix_, ec);
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void TestpmdPeer::reap(int timeout_ms) {
  for (int waited = 0; pid_ > 0 && waited < timeout_ms; waited += 20) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void TestpmdPeer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);
  reap(10000);
  if (pid_ > 0) kill_hard();
}

void TestpmdPeer::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string TestpmdPeer::log() const {
  std::ifstream f(log_path_);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

namespace {
std::uint64_t last_counter(const std::string& text, const char* name) {
  const std::regex re(std::string(name) + R"(:\s+(\d+))");
  std::uint64_t v = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) v = std::stoull((*it)[1]);
  return v;
}
}  // namespace

std::uint64_t TestpmdPeer::rx_packets() const { return last_counter(log(), "RX-packets"); }
std::uint64_t TestpmdPeer::tx_packets() const { return last_counter(log(), "TX-packets"); }

namespace {
// "------- Forward Stats for RX Port= 0/Queue= 1 -> TX Port= 0/Queue= 1 -------" then
// "RX-packets: N  TX-packets: N  TX-dropped: N": the last such block for `queue`.
std::uint64_t stream_counter(const std::string& text, unsigned queue, const char* name) {
  const std::regex re("Forward Stats for RX Port= *0/Queue= *" + std::to_string(queue) + R"( .*\n[^\n]*)" + name +
                      R"(:\s+(\d+))");
  std::uint64_t v = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) v = std::stoull((*it)[1]);
  return v;
}
}  // namespace

std::vector<TestpmdPeer::Captured> TestpmdPeer::captured() const {
  std::ifstream f(options_.capture, std::ios::binary);
  std::vector<char> file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto u32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(file[at + i]);
    return v;
  };
  std::vector<Captured> frames;
  // 24-byte file header; each record: seconds, microseconds, bytes kept, length, the bytes.
  for (std::size_t at = 24; at + 16 <= file.size();) {
    const std::size_t kept = u32(at + 8), length = u32(at + 12);
    at += 16;
    if (at + kept > file.size()) break;  // a record cut short by a peer that died
    Captured c{.length = length, .bytes = std::vector<std::byte>(kept)};
    std::memcpy(c.bytes.data(), file.data() + at, kept);
    frames.push_back(std::move(c));
    at += kept;
  }
  return frames;
}

std::vector<std::string> TestpmdPeer::received_flags() const {
  std::vector<std::string> flags;
  std::istringstream in(log());
  for (std::string line; std::getline(in, line);)
    if (const auto at = line.find("ol_flags: "); at != std::string::npos) flags.push_back(line.substr(at + 10));
  return flags;
}

std::uint64_t TestpmdPeer::queue_rx_packets(unsigned queue) const { return stream_counter(log(), queue, "RX-packets"); }
std::uint64_t TestpmdPeer::queue_tx_packets(unsigned queue) const { return stream_counter(log(), queue, "TX-packets"); }

}  // namespace netfront::testing
