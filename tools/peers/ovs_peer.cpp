#include "tools/peers/ovs_peer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>

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

// A program to run, made ready before fork: between fork and exec a process with threads (a
// test's DPDK has some) may only call what is async-signal-safe, which setenv and malloc are
// not. Every OVS program of this peer finds its files under `dir`, none under the machine's own
// /etc/openvswitch or /var/run/openvswitch.
class Command {
 public:
  Command(const std::string& dir, std::vector<std::string> args) : args_(std::move(args)) {
    static constexpr const char* kOwn[] = {"OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"};
    for (char** e = environ; *e; ++e) {
      const std::string_view v(*e);
      if (std::none_of(std::begin(kOwn), std::end(kOwn), [&](const char* n) { return v.starts_with(std::string(n) + "="); }))
        env_.emplace_back(v);
    }
    if (!dir.empty())
      for (const char* n : kOwn) env_.push_back(std::string(n) + "=" + dir);
    for (auto& a : args_) argv_.push_back(a.data());
    argv_.push_back(nullptr);
    for (auto& e : env_) envp_.push_back(e.data());
    envp_.push_back(nullptr);
  }
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;
  [[noreturn]] void exec() const {
    ::execvpe(argv_[0], argv_.data(), envp_.data());
    std::_Exit(127);
  }

 private:
  std::vector<std::string> args_, env_;
  std::vector<char*> argv_, envp_;
};

// Runs `args` to its end: whether it exited 0, and what it printed.
struct Outcome {
  bool ok = false;
  std::string output;
};

Outcome run_for_output(const std::string& dir, const std::vector<std::string>& args) {
  const Command command(dir, args);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {false, "pipe failed"};  // no other child holds it open
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    command.exec();
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
// crashes (the signal survives exec; it comes when the thread that forked ends, so a peer is
// made and stopped on a thread that outlives it, as a test's main thread does).
pid_t spawn(const std::string& dir, const std::vector<std::string>& args) {
  const Command command(dir, args);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(1);  // we died before the signal was asked for
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    command.exec();
  }
  return pid;
}

// What gives the hugepages and the directory back however our process ends: a shell (nothing
// but exec between fork and exec), in a session of its own (a test runner's kill of our process
// group does not reach it), reading from a socket only we hold the other end of: the pids of
// the daemons ("pid N") and the hugepages we added ("hugepages N"). At its end (stop(), or
// our death) it waits for the daemons to be gone (at most 10 s each; they die with us), takes
// what we added off nr_hugepages (whatever else changed it meanwhile), and removes the
// directory, and only one of ours.
constexpr const char* kKeeperScript = R"(
pids= added=0
while read -r what n; do
  case $what in pid) pids="$pids $n" ;; hugepages) added=$n ;; esac
done
for p in $pids; do
  i=0
  while [ $i -lt 100 ] && [ -r /proc/$p/status ] && ! grep -q '^State:[[:space:]]*Z' /proc/$p/status; do
    sleep 0.1
    i=$((i + 1))
  done
done
if [ "$added" -gt 0 ]; then
  n=$(($(cat /proc/sys/vm/nr_hugepages) - added))
  [ $n -lt 0 ] && n=0
  echo $n >/proc/sys/vm/nr_hugepages
fi
case $1 in /tmp/netfront-ovs-*) rm -rf -- "$1" ;; esac
)";

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
  // Its own directory or none: a fallback shared with others would be removed at the end.
  char tmpl[] = "/tmp/netfront-ovs-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    error_ = std::string("cannot make a directory for OVS: ") + std::strerror(errno);
    return;
  }
  dir_ = tmpl;
  if (error_ = start_keeper(); !error_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
    return;
  }
  const long before = read_number(kHugepages);
  if (before < 0 || !write_number(kHugepages, before + options.hugepages) ||
      read_number(kHugepages) < before + static_cast<long>(options.hugepages)) {
    if (before >= 0) write_number(kHugepages, before);
    error_ = "cannot reserve " + std::to_string(options.hugepages) + " more hugepages for OVS's DPDK";
    return;
  }
  hugepages_added_ = options.hugepages;
  const std::string line = "hugepages " + std::to_string(hugepages_added_) + "\n";
  (void)!::send(keeper_pipe_, line.data(), line.size(), MSG_NOSIGNAL);
  if (auto e = run(dir_, {"ovsdb-tool", "create", dir_ + "/conf.db", kSchema}); !e.empty()) {
    error_ = e;
    return;
  }
  ovsdb_ = spawn(dir_, {"ovsdb-server", dir_ + "/conf.db", "--remote=punix:" + dir_ + "/db.sock",
                        "--unixctl=" + dir_ + "/ovsdb-server.ctl", "--log-file=" + dir_ + "/ovsdb-server.log"});
  tell_keeper(ovsdb_);
  if (auto e = wait_for(dir_ + "/db.sock", 10s); !e.empty()) {
    error_ = e;
    return;
  }
  // Its DPDK: hugepage memory of its own (in memory, no files), no PCI device of the machine's,
  // the forwarding thread on CPU 1; vhost-user sockets in our directory. Mbufs per port, sized
  // by its queues: the shared pool OVS makes otherwise takes whatever of socket-mem it can get,
  // and then its vhost library cannot allocate a ring's shadow when a frontend connects.
  const std::string db = "--db=unix:" + dir_ + "/db.sock";
  if (auto e = run(dir_, {"ovs-vsctl", db, "--no-wait", "init", "--", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
                          "other_config:dpdk-socket-mem=" + std::to_string(options.socket_mem_mb),
                          "other_config:dpdk-socket-limit=" + std::to_string(options.socket_mem_mb),
                          "other_config:dpdk-extra=--no-pci", "other_config:vhost-sock-dir=.", "other_config:pmd-cpu-mask=0x2",
                          "other_config:per-port-memory=true"});
      !e.empty()) {
    error_ = e;
    return;
  }
  error_ = start_vswitchd();
}

OvsPeer::~OvsPeer() { stop(); }

std::string OvsPeer::start_keeper() {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    return std::string("socketpair: ") + std::strerror(errno);
  const Command command("", {"sh", "-c", kKeeperScript, "ovs-peer-keeper", dir_});
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(ends[1], 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    command.exec();
  }
  ::close(ends[1]);
  if (pid < 0) {
    ::close(ends[0]);
    return std::string("fork: ") + std::strerror(errno);
  }
  keeper_ = pid;
  keeper_pipe_ = ends[0];
  return "";
}

void OvsPeer::tell_keeper(pid_t daemon) {
  if (daemon <= 0 || keeper_pipe_ < 0) return;
  const std::string line = "pid " + std::to_string(daemon) + "\n";
  (void)!::send(keeper_pipe_, line.data(), line.size(), MSG_NOSIGNAL);
}

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
  tell_keeper(vswitchd_);
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

// The daemons first (reaped here, so the keeper need not wait for them), then the keeper gives
// back the hugepages and the directory, as it would had we died.
void OvsPeer::stop() {
  stop_vswitchd();
  end(ovsdb_, 5s);
  if (keeper_pipe_ >= 0) ::close(std::exchange(keeper_pipe_, -1));
  if (keeper_ > 0) {
    int status = 0;
    while (::waitpid(keeper_, &status, 0) < 0 && errno == EINTR) {
    }
    keeper_ = -1;
  }
  hugepages_added_ = 0;
  dir_.clear();
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
