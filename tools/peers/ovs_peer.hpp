// Open vSwitch with DPDK (Debian's openvswitch-switch-dpdk) as a vhost-user peer, started and
// stopped by the program that needs it: a database, a run directory and logs of its own, in a
// directory it removes; ovs-vswitchd in a network namespace of its own, so the bridge's
// internal port is never an interface of the machine's. Its DPDK needs hugepages (OVS runs it
// --in-memory, which --no-huge cannot be): it reserves what it needs on top of what the
// machine has, and gives them back. The daemons die with the process that started them, and a
// keeper process of its own gives the hugepages and the directory back however that process
// ends (a crash, a kill by a test runner's timeout), not only on stop().
//
// Ports: dpdkvhostuser (OVS is the vhost-user server; its socket is in `dir()`) and
// dpdkvhostuserclient (OVS connects to a socket the frontend serves), on a bridge of the
// userspace datapath forwarding with the NORMAL action (a learning switch).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace netfront::testing {

class OvsPeer {
 public:
  struct Options {
    unsigned hugepages = 320;  // 2 MiB pages to add while it runs
    unsigned socket_mem_mb = 512;
  };

  // Starts ovsdb-server and ovs-vswitchd and waits until DPDK is up in it. An empty `error()`
  // means it runs.
  explicit OvsPeer(const Options& options);
  OvsPeer() : OvsPeer(Options{}) {}
  ~OvsPeer();
  OvsPeer(const OvsPeer&) = delete;
  OvsPeer& operator=(const OvsPeer&) = delete;

  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }

  // ovs-vsctl with these arguments (waiting for ovs-vswitchd to apply them); "" or what it said.
  std::string vsctl(const std::vector<std::string>& args);
  // A bridge of the userspace datapath; a port OVS serves (its socket: dir()/name); a port OVS
  // connects to `socket` for.
  std::string add_bridge(const std::string& bridge);
  std::string add_server_port(const std::string& bridge, const std::string& name);
  std::string add_client_port(const std::string& bridge, const std::string& name, const std::string& socket);

  // ovs-vswitchd stopped (SIGTERM, as a service restart does) and started again on the same
  // database; "" or why it failed. Its ports come back by themselves.
  std::string restart_vswitchd();
  void stop();  // idempotent
  std::string log() const;  // ovs-vswitchd's log

 private:
  std::string start_keeper();
  void tell_keeper(pid_t daemon);
  std::string start_vswitchd();
  void stop_vswitchd();
  std::string wait_for(const std::string& what, std::chrono::milliseconds timeout);

  Options options_;
  std::string dir_, error_;
  pid_t ovsdb_ = -1, vswitchd_ = -1;
  long hugepages_added_ = 0;  // to nr_hugepages, for the keeper to take off again
  pid_t keeper_ = -1;         // cleans up once keeper_pipe_ is closed (by stop(), or by our end)
  int keeper_pipe_ = -1;
};

}  // namespace netfront::testing
