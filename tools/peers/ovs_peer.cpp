#include "tools/peers/ovs_peer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tools/peers/testpmd_peer.hpp"

namespace netfront::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kVswitchd = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk";
constexpr const char* kSchema = "/usr/share/openvswitch/vswitch.ovsschema";
constexpr const char* kHugepages = "/proc/sys/vm/nr_hugepages";

long read_number(const char* path) {
  std::ifstream in(path);
  long n = -1;
  in >> n;
  return n;
}

bool write_number(const char* path, long n) {
  std::ofstream out(path);
  out << n;
  out.close();
  return static_cast<bool>(out);
}

// Every OVS program of this peer finds its files under `dir`, none under the machine's own
// /etc/openvswitch or /var/run/openvswitch.
void child_environment(const std::string& dir) {
  for (const char* name : {"OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"}) ::setenv(name, dir.c_str(), 1);
}

[[noreturn]] void exec(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::_Exit(127);
}

// Runs `args` to its end: whether it exited 0, and what it printed.
struct Outcome {
  bool ok = false;
  std::string output;
};

Outcome run_for_output(const std::string& dir, const std::vector<std::string>& args) {
  int out[2];
  if (::pipe(out) != 0) return {false, "pipe failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    child_environment(dir);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(out[0]);
    ::close(out[1]);
    exec(args);
  }
  ::close(out[1]);
  Outcome o;
  char chunk[512];
  for (ssize_t n; (n = ::read(out[0], chunk, sizeof chunk)) > 0;) o.output.append(chunk, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return {false, "cannot run " + args[0]};
  o.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return o;
}

// "" if `args` ran and exited 0, else what it said.
std::string run(const std::string& dir, const std::vector<std::string>& args) {
  Outcome o = run_for_output(dir, args);
  return o.ok ? "" : args[0] + " failed: " + o.output;
}

// A daemon of the peer's, which dies with the process that started it even when that one
// crashes (it survives exec).
pid_t spawn(const std::string& dir, const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    child_environment(dir);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    exec(args);
  }
  return pid;
}

// SIGTERM, then SIGKILL if it is still there after `grace`; reaped either way.
void end(pid_t& pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  pid = -1;
}

}  // namespace

OvsPeer::OvsPeer(const Options& options) : options_(options) {
  if (::access(kVswitchd, X_OK) != 0) {
    error_ = std::string(kVswitchd) + " is missing (Debian's openvswitch-switch-dpdk; tools/setup.sh installs it)";
    return;
  }
  dir_ = make_temp_dir();
  const long before = read_number(kHugepages);
  if (before < 0 || !write_number(kHugepages, before + options.hugepages) ||
      read_number(kHugepages) < before + static_cast<long>(options.hugepages)) {
    write_number(kHugepages, before);
    error_ = "cannot reserve " + std::to_string(options.hugepages) + " more hugepages for OVS's DPDK";
    return;
  }
  hugepages_before_ = before;
  if (auto e = run(dir_, {"ovsdb-tool", "create", dir_ + "/conf.db", kSchema}); !e.empty()) {
    error_ = e;
    return;
  }
  ovsdb_ = spawn(dir_, {"ovsdb-server", dir_ + "/conf.db", "--remote=punix:" + dir_ + "/db.sock",
                        "--unixctl=" + dir_ + "/ovsdb-server.ctl", "--log-file=" + dir_ + "/ovsdb-server.log"});
  if (auto e = wait_for(dir_ + "/db.sock", 10s); !e.empty()) {
    error_ = e;
    return;
  }
  // Its DPDK: hugepage memory of its own (in memory, no files), no PCI device of the machine's,
  // the forwarding thread on CPU 1; vhost-user sockets in our directory.
  const std::string db = "--db=unix:" + dir_ + "/db.sock";
  if (auto e = run(dir_, {"ovs-vsctl", db, "--no-wait", "init", "--", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                          "other_config:dpdk-socket-mem=" + std::to_string(options.socket_mem_mb),
                          "other_config:dpdk-socket-limit=" + std::to_string(options.socket_mem_mb),
                          "other_config:dpdk-extra=--no-pci", "other_config:vhost-sock-dir=.", "other_config:pmd-cpu-mask=0x2"});
      !e.empty()) {
    error_ = e;
    return;
  }
  error_ = start_vswitchd();
}

OvsPeer::~OvsPeer() { stop(); }

std::string OvsPeer::wait_for(const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return path + " did not appear within " + std::to_string(timeout.count()) + " ms";
    std::this_thread::sleep_for(20ms);
  }
  return "";
}

std::string OvsPeer::start_vswitchd() {
  // unshare: the bridge's internal port (a tap of the userspace datapath) is made in a network
  // namespace of its own, which goes with the process.
  vswitchd_ = spawn(dir_, {"unshare", "--net", "--", kVswitchd, "unix:" + dir_ + "/db.sock", "--unixctl=" + dir_ + "/ovs-vswitchd.ctl",
                           "--log-file=" + dir_ + "/ovs-vswitchd.log"});
  if (vswitchd_ < 0) return "cannot start ovs-vswitchd";
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    int status = 0;
    if (::waitpid(vswitchd_, &status, WNOHANG) == vswitchd_) {
      vswitchd_ = -1;
      return "ovs-vswitchd exited at start; its log:\n" + log();
    }
    // "true" once DPDK is up in it.
    const Outcome up = run_for_output(dir_, {"ovs-vsctl", "--db=unix:" + dir_ + "/db.sock", "--no-wait", "get", "Open_vSwitch", ".",
                                             "dpdk_initialized"});
    if (up.ok && up.output.rfind("true", 0) == 0) return "";
    if (std::chrono::steady_clock::now() > deadline) return "ovs-vswitchd did not bring DPDK up within 30 s; its log:\n" + log();
    std::this_thread::sleep_for(50ms);
  }
}

void OvsPeer::stop_vswitchd() { end(vswitchd_, 10s); }

std::string OvsPeer::restart_vswitchd() {
  stop_vswitchd();
  return start_vswitchd();
}

void OvsPeer::stop() {
  stop_vswitchd();
  end(ovsdb_, 5s);
  if (hugepages_before_ >= 0) {
    write_number(kHugepages, hugepages_before_);
    hugepages_before_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

std::string OvsPeer::vsctl(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"ovs-vsctl", "--db=unix:" + dir_ + "/db.sock", "--timeout=20"};
  all.insert(all.end(), args.begin(), args.end());
  return run(dir_, all);
}

std::string OvsPeer::add_bridge(const std::string& bridge) {
  return vsctl({"add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev"});
}

std::string OvsPeer::add_server_port(const std::string& bridge, const std::string& name) {
  if (auto e = vsctl({"add-port", bridge, name, "--", "set", "Interface", name, "type=dpdkvhostuser"}); !e.empty()) return e;
  return wait_for(dir_ + "/" + name, 10s);
}

std::string OvsPeer::add_client_port(const std::string& bridge, const std::string& name, const std::string& socket) {
  return vsctl({"add-port", bridge, name, "--", "set", "Interface", name, "type=dpdkvhostuserclient",
                "options:vhost-server-path=" + socket});
}

std::string OvsPeer::log() const {
  std::ifstream in(dir_ + "/ovs-vswitchd.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace netfront::testing
