// main() for test binaries that use DPDK memory: the EAL starts once, before any test, so a
// failure to start is one clear error instead of every test failing on its own.
//
// Memory is memfd-backed and of a fixed size whatever the machine has (hugepages reserved by a
// benchmark or not), so a test sees the same budget everywhere: 256 MiB for DPDK, 256 MiB of
// device memory; NETFRONT_MEMORY, NETFRONT_MEMORY_MB and NETFRONT_DEVICE_MEMORY_MB still
// override it for a run by hand. Each test must give back the DPDK and device memory it took
// (MemoryReturned below): a test that did not would make later tests of the
// same process fail for want of memory, and pass when run alone. Tests that leave memory to a
// device on purpose (A12) are in suites named AbandonedDevice*, which meson runs one case per
// process (test/unit/meson.build).
#include <gtest/gtest.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "netfront/dpdk_env.hpp"
#include "runtime/device_memory.hpp"

namespace {

constexpr unsigned kTestMemoryMb = 256;
// What a test may keep without it counting as a leak: DPDK's own first-use structures.
constexpr std::size_t kSlack = 1 << 20;

std::size_t dpdk_heap_in_use() {
  std::size_t total = 0;
  for (int socket = 0; socket < static_cast<int>(rte_socket_count()); ++socket) {
    rte_malloc_socket_stats s{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(socket), &s) == 0) total += s.heap_allocsz_bytes;
  }
  return total;
}

bool abandons_memory(const testing::TestInfo& info) {
  return std::string_view(info.test_suite_name()).find("AbandonedDevice") != std::string_view::npos;
}

class MemoryReturned : public testing::EmptyTestEventListener {
  // A case that abandons memory runs alone, or whatever runs after it has less.
  void OnTestProgramStart(const testing::UnitTest& unit) override {
    unsigned selected = 0, abandoning = 0;
    for (int s = 0; s < unit.total_test_suite_count(); ++s) {
      const testing::TestSuite& suite = *unit.GetTestSuite(s);
      for (int t = 0; t < suite.total_test_count(); ++t) {
        const testing::TestInfo& info = *suite.GetTestInfo(t);
        if (!info.should_run()) continue;
        ++selected;
        if (abandons_memory(info)) ++abandoning;
      }
    }
    if (abandoning > 0 && selected > 1) {
      std::fprintf(stderr, "%u AbandonedDevice cases among %u selected: run each alone (--gtest_filter)\n", abandoning,
                   selected);
      std::exit(1);
    }
  }
  void OnTestStart(const testing::TestInfo&) override {
    before_ = dpdk_heap_in_use();
    device_before_ = netfront::runtime::DeviceMemory::in_use();
  }
  // The test is still the current one here, so a failure is recorded against it.
  void OnTestEnd(const testing::TestInfo& info) override {
    if (abandons_memory(info)) return;
    const std::size_t after = dpdk_heap_in_use(), device_after = netfront::runtime::DeviceMemory::in_use();
    if (after > before_ + kSlack)
      ADD_FAILURE() << "the test kept " << (after - before_) / 1024
                    << " KiB of DPDK memory: later tests in this process would have less";
    if (device_after > device_before_)
      ADD_FAILURE() << "the test kept " << (device_after - device_before_) / 1024
                    << " KiB of device memory: later tests in this process would have less";
  }
  std::size_t before_ = 0, device_before_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  netfront::DpdkConfig config;
  config.memory = netfront::MemoryBacking::Memfd;
  config.memory_mb = kTestMemoryMb;
  config.device_memory_mb = kTestMemoryMb;
  if (auto started = netfront::DpdkEnv::start(config); !started) {
    fprintf(stderr, "DPDK did not start: %s\n", started.error().to_string().c_str());
    return 1;
  }
  testing::UnitTest::GetInstance()->listeners().Append(new MemoryReturned);
  return RUN_ALL_TESTS();
}
