#include "netfront/dpdk_env.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

#include "netfront/numa.hpp"
#include "runtime/log.hpp"
#include "runtime/memory_choice.hpp"

namespace netfront {
namespace {

struct StartState {
  std::once_flag once;
  std::optional<Result<>> outcome;
  DpdkEnvInfo info;
  std::vector<std::string> argv_storage;  // the EAL keeps pointers into argv
};

StartState& state() {
  static StartState s;
  return s;
}

unsigned long long free_hugepage_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  unsigned long long free_pages = 0, page_kb = 0;
  std::string key;
  while (meminfo >> key) {
    if (key == "HugePages_Free:") meminfo >> free_pages;
    if (key == "Hugepagesize:") meminfo >> page_kb;
    meminfo.ignore(256, '\n');
  }
  return free_pages * page_kb * 1024;
}

std::vector<std::string> hugetlbfs_mounts() {
  std::vector<std::string> found;
  std::ifstream mounts("/proc/mounts");
  std::string device, mountpoint, fstype;
  while (mounts >> device >> mountpoint >> fstype) {
    if (fstype == "hugetlbfs") found.push_back(mountpoint);
    mounts.ignore(4096, '\n');
  }
  return found;
}

constexpr std::string_view kFilePrefix = "nf";

// The pid in a name this runtime gave its files ("nf<pid>", "nf<pid>map_0"), or 0.
pid_t pid_of_our_file(std::string_view name) {
  if (!name.starts_with(kFilePrefix)) return 0;
  name.remove_prefix(kFilePrefix.size());
  pid_t pid = 0;
  std::size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') pid = pid * 10 + (name[digits++] - '0');
  if (digits == 0 || (digits < name.size() && !name.substr(digits).starts_with("map_") && !name.substr(digits).starts_with("seg")))
    return 0;
  return pid;
}

// Hugepage-backed DPDK keeps one file per memseg list (and a run directory) named after the
// file prefix; they outlive a process that dies. Each netfront process has its own prefix, so
// whatever belongs to a pid that no longer runs is garbage: remove it before taking more.
// At a normal exit a process removes its own files the same way (the mappings stay valid).
void sweep_runtime_files(const std::vector<std::string>& huge_mounts, bool own) {
  std::vector<std::string> dirs = huge_mounts;
  dirs.emplace_back("/var/run/dpdk");
  std::error_code ec;
  for (const auto& dir : dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const pid_t pid = pid_of_our_file(entry.path().filename().native());
      if (pid <= 0) continue;
      if (own ? pid != ::getpid() : (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH)) continue;
      std::filesystem::remove_all(entry.path(), ec);
      runtime::logger("runtime").debug("removed stale DPDK file {} of dead process {}", entry.path().native(), pid);
    }
  }
}

// "0@(0,1)": lcore 0 floats over every CPU the process may use, unless pinning was asked for.
std::string lcore_map(const std::optional<unsigned>& pin_cpu) {
  if (pin_cpu) return "0@" + std::to_string(*pin_cpu);
  std::string cpus;
  for (unsigned c : numa::allowed_cpus()) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
  return cpus.empty() ? "0@0" : "0@(" + cpus + ")";
}

MemoryBacking memory_from_env(MemoryBacking fallback) {
  const char* v = std::getenv("NETFRONT_MEMORY");
  if (!v) return fallback;
  const std::string s(v);
  if (s == "hugepages") return MemoryBacking::Hugepages;
  if (s == "memfd") return MemoryBacking::Memfd;
  if (s == "auto") return MemoryBacking::Auto;
  runtime::logger("runtime").warn("NETFRONT_MEMORY='{}' is not auto|hugepages|memfd; using the default", s);
  return fallback;
}

// DPDK writes its log lines through this stream into the "dpdk" logger.
ssize_t dpdk_log_write(void*, const char* buf, size_t size) {
  std::string_view line(buf, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return static_cast<ssize_t>(size);
  auto& log = runtime::logger("dpdk");
  switch (rte_log_cur_msg_loglevel()) {
    case RTE_LOG_EMERG:
    case RTE_LOG_ALERT:
    case RTE_LOG_CRIT:
    case RTE_LOG_ERR: log.error("{}", line); break;
    case RTE_LOG_WARNING: log.warn("{}", line); break;
    case RTE_LOG_NOTICE:
    case RTE_LOG_INFO: log.info("{}", line); break;
    default: log.debug("{}", line); break;
  }
  return static_cast<ssize_t>(size);
}

void redirect_dpdk_log() {
  static cookie_io_functions_t fns{nullptr, dpdk_log_write, nullptr, nullptr};
  if (FILE* f = fopencookie(nullptr, "w", fns)) {
    setvbuf(f, nullptr, _IOLBF, 0);
    rte_openlog_stream(f);
  }
}

Result<> start_once(const DpdkConfig& config) {
  auto& s = state();
  auto& log = runtime::logger("runtime");

  unsigned memory_mb = config.memory_mb;
  if (const char* v = std::getenv("NETFRONT_MEMORY_MB")) memory_mb = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
  if (memory_mb < 64) return Error::unknown(Error::Cause::BadArgument, "DPDK memory of " + std::to_string(memory_mb) + " MiB is too small (need >= 64)");
  unsigned device_mb = config.device_memory_mb;
  if (const char* v = std::getenv("NETFRONT_DEVICE_MEMORY_MB")) device_mb = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
  if (device_mb < 8) return Error::unknown(Error::Cause::BadArgument, "device memory of " + std::to_string(device_mb) + " MiB is too small (need >= 8)");

  // DPDK answers a CPU it cannot use with its whole usage text; say which one instead.
  if (config.pin_cpu) {
    const auto& allowed = numa::allowed_cpus();
    if (std::find(allowed.begin(), allowed.end(), *config.pin_cpu) == allowed.end())
      return Error::unknown(Error::Cause::BadArgument, "CPU " + std::to_string(*config.pin_cpu) + " is not one this process may run on");
  }

  const MemoryBacking requested = memory_from_env(config.memory);
  const unsigned long long huge_free = free_hugepage_bytes();
  const auto huge_mounts = hugetlbfs_mounts();
  const bool huge_mounted = !huge_mounts.empty();
  // Device memory comes from the same pages (one set per NUMA node).
  const unsigned wanted_mb = memory_mb + device_mb * static_cast<unsigned>(numa::nodes());
  const MemoryBacking chosen = runtime::choose_memory(requested, wanted_mb, huge_free, huge_mounted);
  if (requested == MemoryBacking::Hugepages && chosen != MemoryBacking::Hugepages)
    return Error::unknown(Error::Cause::NoResources, "hugepages were requested but " +
                          std::string(huge_mounted ? "only " + std::to_string(huge_free >> 20) + " MiB are free"
                                                   : "no hugetlbfs is mounted") +
                          " (need " + std::to_string(wanted_mb) + " MiB)");

  std::vector<std::string>& args = s.argv_storage;
  args = {"netfront", "--lcores", lcore_map(config.pin_cpu), "--no-pci", "--log-level", "5"};
  if (chosen == MemoryBacking::Hugepages) {
    // One file per memseg list keeps a vhost-user memory table within its 8 regions. DPDK
    // cannot unlink those files early in that mode, so stale ones are swept at start instead.
    sweep_runtime_files(huge_mounts, /*own=*/false);
    std::atexit([] { sweep_runtime_files(hugetlbfs_mounts(), /*own=*/true); });
    args.insert(args.end(), {"--single-file-segments", "--socket-mem", std::to_string(memory_mb), "--file-prefix",
                             std::string(kFilePrefix) + std::to_string(::getpid())});
  } else {
    // --no-huge backs memory with one memfd, shareable by fd; --no-shconf leaves no run files.
    args.insert(args.end(), {"--no-huge", "-m", std::to_string(memory_mb), "--no-shconf"});
  }
  const char* telemetry_env = std::getenv("NETFRONT_TELEMETRY");
  const bool telemetry = telemetry_env ? std::string_view(telemetry_env) == "1" : config.telemetry;
  const std::string prefix = std::string(kFilePrefix) + std::to_string(::getpid());
  if (!telemetry)
    args.emplace_back("--no-telemetry");
  else if (chosen != MemoryBacking::Hugepages)
    args.insert(args.end(), {"--file-prefix", prefix});  // the telemetry socket's directory: one per process
  args.insert(args.end(), config.extra_eal_args.begin(), config.extra_eal_args.end());
  if (const char* extra = std::getenv("NETFRONT_EAL_ARGS")) {
    std::istringstream words(extra);
    for (std::string w; words >> w;) args.push_back(w);
  }

  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  redirect_dpdk_log();
  std::string joined;
  for (auto& a : args) joined += (joined.empty() ? "" : " ") + a;
  log.debug("starting DPDK: {}", joined);
  if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0)
    return Error::unknown(Error::Cause::System, "DPDK EAL initialisation failed (" + std::string(rte_strerror(rte_errno)) + "); arguments: " + joined);

  s.info = DpdkEnvInfo{chosen, memory_mb, device_mb, args};
  log.info("DPDK up: {} MiB of {} memory", memory_mb, chosen == MemoryBacking::Hugepages ? "hugepage" : "memfd");
  if (telemetry) log.info("telemetry: dpdk-telemetry.py -f {} (then /netfront/list, /netfront/stats,N)", prefix);
  return Ok{};
}

}  // namespace

MemoryBacking runtime::choose_memory(MemoryBacking requested, unsigned memory_mb, unsigned long long free_huge_bytes,
                                     bool mounted) noexcept {
  const bool enough = mounted && free_huge_bytes >= (static_cast<unsigned long long>(memory_mb) << 20);
  switch (requested) {
    case MemoryBacking::Memfd: return MemoryBacking::Memfd;
    case MemoryBacking::Hugepages: return enough ? MemoryBacking::Hugepages : MemoryBacking::Auto;
    case MemoryBacking::Auto: break;
  }
  return enough ? MemoryBacking::Hugepages : MemoryBacking::Memfd;
}

Result<> DpdkEnv::start(const DpdkConfig& config) {
  auto& s = state();
  std::call_once(s.once, [&] { s.outcome.emplace(start_once(config)); });
  return *s.outcome;
}

bool DpdkEnv::started() noexcept { return state().outcome && state().outcome->ok(); }

const DpdkEnvInfo& DpdkEnv::info() noexcept { return state().info; }

}  // namespace netfront
