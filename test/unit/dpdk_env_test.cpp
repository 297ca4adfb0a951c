#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include <rte_mempool.h>
#include <sched.h>

#include <atomic>
#include <thread>

#include "runtime/dpdk_env.hpp"
#include "runtime/loop_thread.hpp"
#include "runtime/numa.hpp"
#include "runtime/packet_pool.hpp"

namespace netfront::runtime {
namespace {

TEST(DpdkEnvTest, AutoPrefersHugepagesOnlyWhenEnoughAreFreeAndMounted) {
  constexpr unsigned long long MiB = 1 << 20;
  EXPECT_EQ(DpdkEnv::choose_memory(MemoryBacking::Auto, 256, 512 * MiB, true), MemoryBacking::Hugepages);
  EXPECT_EQ(DpdkEnv::choose_memory(MemoryBacking::Auto, 256, 128 * MiB, true), MemoryBacking::Memfd);
  EXPECT_EQ(DpdkEnv::choose_memory(MemoryBacking::Auto, 256, 512 * MiB, false), MemoryBacking::Memfd);
  EXPECT_EQ(DpdkEnv::choose_memory(MemoryBacking::Memfd, 256, 512 * MiB, true), MemoryBacking::Memfd);
  // An explicit request that cannot be met is reported (start() turns Auto into an error).
  EXPECT_EQ(DpdkEnv::choose_memory(MemoryBacking::Hugepages, 256, 0, true), MemoryBacking::Auto);
}

TEST(DpdkEnvTest, StartsOnceWithoutArgumentsAndRecordsItsChoice) {
  ASSERT_TRUE(DpdkEnv::start());
  EXPECT_TRUE(DpdkEnv::started());
  EXPECT_TRUE(DpdkEnv::start());  // idempotent
  const DpdkEnvInfo& info = DpdkEnv::info();
  EXPECT_NE(info.memory, MemoryBacking::Auto);
  EXPECT_GE(info.memory_mb, 64u);
  EXPECT_NE(std::find(info.eal_args.begin(), info.eal_args.end(), "--no-pci"), info.eal_args.end());
}

// vhost-user needs the memory as file descriptors: every memseg must have one.
int check_fd(const rte_memseg_list*, const rte_memseg* ms, void* missing) {
  if (rte_memseg_get_fd_thread_unsafe(ms) < 0) ++*static_cast<int*>(missing);
  return 0;
}

TEST(DpdkEnvTest, MemoryIsShareableByFileDescriptor) {
  ASSERT_TRUE(DpdkEnv::start());
  int missing = 0;
  rte_memseg_walk(check_fd, &missing);
  EXPECT_EQ(missing, 0);
}

}  // namespace
}  // namespace netfront::runtime

// --- NUMA placement (runtime/numa.hpp)

namespace netfront::runtime {
namespace {

TEST(NumaTest, EveryAllowedCpuBelongsToExactlyOneNodeAndTheCurrentOneIsAmongThem) {
  ASSERT_GE(numa::nodes(), 1);
  std::size_t cpus = 0;
  for (int node = 0; node < numa::nodes(); ++node) {
    for (unsigned cpu : numa::cpus_of_node(node)) EXPECT_EQ(numa::node_of_cpu(cpu), node);
    cpus += numa::cpus_of_node(node).size();
  }
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  EXPECT_EQ(cpus, static_cast<std::size_t>(CPU_COUNT(&allowed)));
  const auto here = numa::cpus_of_node(numa::current_node());
  EXPECT_FALSE(here.empty());
}

TEST(NumaTest, APoolAskedForOnANodeWithoutDpdkMemoryStillComesFromSomewhere) {
  // Node 7 has no DPDK memory on any machine this runs on: the fallback must take over.
  auto pool = PacketPool::create({.size = 511, .cache = 0, .socket = 7});
  ASSERT_TRUE(pool) << pool.error().to_string();
  EXPECT_EQ(rte_mempool_avail_count(pool->get()), 511u);
}

LoopThreadOptions on_cpu(unsigned cpu) {
  LoopThreadOptions o;
  o.cpu = cpu;
  return o;
}
LoopThreadOptions on_node(int node) {
  LoopThreadOptions o;
  o.numa_node = node;
  return o;
}

TEST(NumaTest, APinnedLoopThreadRunsOnItsCpu) {
  const unsigned cpu = numa::cpus_of_node(numa::current_node()).back();
  auto t = LoopThread::start(on_cpu(cpu));
  ASSERT_TRUE(t) << t.error().to_string();
  std::atomic<int> ran_on{-1};
  (*t)->loop().post([&] { ran_on = sched_getcpu(); });
  for (int i = 0; i < 10000 && ran_on < 0; ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_EQ(ran_on.load(), static_cast<int>(cpu));
  EXPECT_GE((*t)->lcore(), 0);
}

TEST(NumaTest, ALoopThreadPlacedOnANodeRunsOnOneOfItsCpus) {
  const int node = numa::current_node();
  auto t = LoopThread::start(on_node(node));
  ASSERT_TRUE(t) << t.error().to_string();
  std::atomic<int> ran_on{-1};
  (*t)->loop().post([&] { ran_on = sched_getcpu(); });
  for (int i = 0; i < 10000 && ran_on < 0; ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
  ASSERT_GE(ran_on.load(), 0);
  EXPECT_EQ(numa::node_of_cpu(static_cast<unsigned>(ran_on.load())), node);
  auto nowhere = LoopThread::start(on_node(999));
  ASSERT_FALSE(nowhere);
  EXPECT_NE(nowhere.error().message().find("node 999"), std::string::npos);
}

TEST(NumaTest, PinningToACpuThatDoesNotExistIsAClearError) {
  auto t = LoopThread::start(on_cpu(100000));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("CPU 100000"), std::string::npos) << t.error().to_string();
}

}  // namespace
}  // namespace netfront::runtime
