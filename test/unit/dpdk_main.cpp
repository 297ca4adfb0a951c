// main() for test binaries that use DPDK memory: the EAL starts once, before any test, so a
// failure to start is one clear error instead of every test failing on its own.
#include <gtest/gtest.h>

#include "runtime/dpdk_env.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (auto started = netfront::runtime::DpdkEnv::start(); !started) {
    fprintf(stderr, "DPDK did not start: %s\n", started.error().to_string().c_str());
    return 1;
  }
  return RUN_ALL_TESTS();
}
