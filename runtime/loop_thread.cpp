#include "netfront/loop_thread.hpp"

#include <pthread.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <sched.h>

#include <cstring>
#include <future>
#include <optional>

#include "netfront/dpdk_env.hpp"
#include "netfront/numa.hpp"
#include "runtime/log.hpp"

namespace netfront {

namespace {
// Lets the calling thread run on `cpus` only; `what` names them in the error.
Result<> run_only_on(const std::vector<unsigned>& cpus, const std::string& what) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned c : cpus) CPU_SET(c, &set);
  if (const int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0)
    return Error::unknown(Error::Cause::System, "cannot place a thread on " + what + ": " + std::strerror(e));
  return Ok{};
}
}  // namespace

Result<> pin_current_thread(unsigned cpu) {
  if (cpu >= CPU_SETSIZE) return Error::unknown(Error::Cause::BadArgument, "CPU " + std::to_string(cpu) + " does not exist");
  return run_only_on({cpu}, "CPU " + std::to_string(cpu));
}

Result<> pin_current_thread_to_node(int node) {
  const std::vector<unsigned> cpus = numa::cpus_of_node(node);
  if (cpus.empty()) return Error::unknown(Error::Cause::BadArgument, "NUMA node " + std::to_string(node) + " has no CPU this process may use");
  return run_only_on(cpus, "NUMA node " + std::to_string(node));
}

Result<std::unique_ptr<LoopThread>> LoopThread::start(const LoopThreadOptions& options) {
  std::unique_ptr<LoopThread> t(new LoopThread);
  struct Started {
    EventLoop* loop = nullptr;
    int lcore = -1;
    std::optional<Error> error;
  };
  std::promise<Started> started;
  auto result = started.get_future();
  t->thread_ = std::thread([options, started = std::move(started)]() mutable {
    pthread_setname_np(pthread_self(), options.name.substr(0, 15).c_str());
    const bool to_node = options.numa_node && *options.numa_node >= 0;
    Result<> placed = options.cpu ? pin_current_thread(*options.cpu)
                      : to_node   ? pin_current_thread_to_node(*options.numa_node)
                                  : Result<>(Ok{});
    if (!placed) {
      started.set_value({nullptr, -1, placed.error()});
      return;
    }
    // A DPDK lcore id of its own: mempool caches and per-lcore state then work here.
    int lcore = -1;
    if (DpdkEnv::started() && rte_lcore_id() == LCORE_ID_ANY) {
      if (rte_thread_register() != 0) {
        started.set_value({nullptr, -1, Error::unknown(Error::Cause::NoResources, "cannot register a loop thread with DPDK: no lcore id free")});
        return;
      }
      lcore = static_cast<int>(rte_lcore_id());
    }
    {
      EventLoop loop(options.loop);
      started.set_value({&loop, lcore, std::nullopt});
      loop.run();
    }
    if (lcore >= 0) rte_thread_unregister();
  });
  Started s = result.get();
  if (s.error) {
    t->thread_.join();
    return *s.error;
  }
  t->loop_ = s.loop;
  t->lcore_ = s.lcore;
  return t;
}

LoopThread::~LoopThread() {
  if (!thread_.joinable()) return;
  if (loop_) loop_->post([l = loop_] { l->stop(); });
  thread_.join();
}

}  // namespace netfront
