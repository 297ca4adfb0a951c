#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include "runtime/dpdk_env.hpp"

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
