#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include <rte_mempool.h>
#include <sched.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "netfront/dpdk_env.hpp"
#include "netfront/loop_thread.hpp"
#include "netfront/numa.hpp"
#include "netfront/packet_pool.hpp"
#include "runtime/device_memory.hpp"
#include "runtime/memory_choice.hpp"

namespace netfront::runtime {
namespace {

TEST(DpdkEnvTest, AutoPrefersHugepagesOnlyWhenEnoughAreFreeAndMounted) {
  constexpr unsigned long long MiB = 1 << 20;
  EXPECT_EQ(runtime::choose_memory(MemoryBacking::Auto, 256, 512 * MiB, true), MemoryBacking::Hugepages);
  EXPECT_EQ(runtime::choose_memory(MemoryBacking::Auto, 256, 128 * MiB, true), MemoryBacking::Memfd);
  EXPECT_EQ(runtime::choose_memory(MemoryBacking::Auto, 256, 512 * MiB, false), MemoryBacking::Memfd);
  EXPECT_EQ(runtime::choose_memory(MemoryBacking::Memfd, 256, 512 * MiB, true), MemoryBacking::Memfd);
  // An explicit request that cannot be met is reported (start() turns Auto into an error).
  EXPECT_EQ(runtime::choose_memory(MemoryBacking::Hugepages, 256, 0, true), MemoryBacking::Auto);
}

// dpdk_main.cpp started DPDK with 256 MiB of memfd memory (and as much device memory) before
// any test: a later start(), whatever it asks, gets that first outcome and changes nothing.
TEST(DpdkEnvTest, StartsOnceAndLaterCallsChangeNothing) {
  ASSERT_TRUE(DpdkEnv::started());
  const DpdkEnvInfo before = DpdkEnv::info();
  EXPECT_EQ(before.memory, MemoryBacking::Memfd);
  EXPECT_EQ(before.memory_mb, 256u);
  EXPECT_EQ(before.device_memory_mb, 256u);
  auto has = [&](const char* a) { return std::find(before.eal_args.begin(), before.eal_args.end(), a) != before.eal_args.end(); };
  EXPECT_TRUE(has("--no-pci"));
  EXPECT_TRUE(has("--no-huge"));
  const auto m = std::find(before.eal_args.begin(), before.eal_args.end(), "-m");
  ASSERT_NE(m, before.eal_args.end());
  EXPECT_EQ(*std::next(m), "256");
  DpdkConfig other;
  other.memory = MemoryBacking::Hugepages;
  other.memory_mb = 1024;
  EXPECT_TRUE(DpdkEnv::start(other));  // the first call's outcome
  EXPECT_EQ(DpdkEnv::info().memory_mb, 256u);
  EXPECT_EQ(DpdkEnv::info().eal_args, before.eal_args);
  EXPECT_EQ(rte_eal_has_hugepages(), 0);
}

// A vhost-user backend maps the device memory by file descriptor: each region is a whole memfd
// of exactly its size, and nothing else (no DPDK memory) is offered.
TEST(DpdkEnvTest, DeviceMemoryIsWholeFilesOfItsOwn) {
  const auto regions = DeviceMemory::regions();
  ASSERT_FALSE(regions.empty());
  for (const DeviceRegion& r : regions) {
    struct stat st {};
    ASSERT_EQ(::fstat(r.fd, &st), 0);
    EXPECT_EQ(static_cast<std::size_t>(st.st_size), r.size);
    EXPECT_EQ(r.size, std::size_t{256} << 20);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.base) % 4096, 0u);
  }
}

}  // namespace
}  // namespace netfront::runtime

// --- NUMA placement (netfront/numa.hpp)

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

TEST(NumaTest, ANodeNotKnownMeansAnyCpu) {
  // Netif::numa_node() says -1 when the device's node is not known: passed on as it is, the
  // thread may run anywhere.
  auto t = LoopThread::start({.numa_node = -1});
  ASSERT_TRUE(t) << t.error().to_string();
  std::atomic<int> ran_on{-1};
  (*t)->loop().post([&] { ran_on = sched_getcpu(); });
  for (int i = 0; i < 10000 && ran_on < 0; ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_GE(ran_on.load(), 0);
}

TEST(NumaTest, PinningToACpuThatDoesNotExistIsAClearError) {
  auto t = LoopThread::start(on_cpu(100000));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("CPU 100000"), std::string::npos) << t.error().to_string();
}

}  // namespace
}  // namespace netfront::runtime
