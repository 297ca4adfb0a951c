// A thread that runs an event loop of its own: where a queue pair handed over with
// NetifQueue::run_on lives, one per core. The thread can be pinned to a CPU (and so to that
// CPU's NUMA node) and is registered with DPDK, so mempool per-lcore caches work on it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "netfront/event_loop.hpp"
#include "netfront/result.hpp"

namespace netfront {

struct LoopThreadOptions {
  std::optional<unsigned> cpu{};  // pin to this CPU
  std::optional<int> numa_node{};  // else: any CPU of this node (a device's, Netif::numa_node());
                                   // -1 (a node not known) or neither: any CPU the process may use
  LoopConfig loop{};
  std::string name = "netfront-loop";  // thread name (15 characters at most are kept)
};

class LoopThread {
 public:
  // Starts the thread and waits until its loop runs. Errors: pinning refused (no such CPU or
  // not allowed), DPDK registration failed.
  static Result<std::unique_ptr<LoopThread>> start(const LoopThreadOptions& options = {});
  // Stops the loop after its current iteration and joins the thread.
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  EventLoop& loop() noexcept { return *loop_; }
  std::thread::id id() const noexcept { return thread_.get_id(); }
  // The DPDK lcore id the thread got, or -1 if DPDK was not running.
  int lcore() const noexcept { return lcore_; }

 private:
  LoopThread() = default;
  std::thread thread_;
  EventLoop* loop_ = nullptr;
  int lcore_ = -1;
};

// Pins the calling thread to `cpu`, or to the CPUs of `node`.
Result<> pin_current_thread(unsigned cpu);
Result<> pin_current_thread_to_node(int node);

}  // namespace netfront
