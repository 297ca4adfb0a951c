// netfront-c2c CPU_A CPU_B [ROUND_TRIPS]: the cache-line round trip between two CPUs, in ns
// (the median of 9 rounds). Two threads pinned one per CPU hand a counter back and forth in
// one cache line: each hand-over is the line moving from one core's cache to the other's,
// which is what a frontend and its backend pay per ring update. On a VM the figure says
// whether the two vCPUs sit on near or far physical cores at that moment.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

bool pin(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

struct alignas(64) Line {
  std::atomic<unsigned long> turn{0};
};

double round_trip_ns(unsigned a, unsigned b, unsigned long trips) {
  Line line;
  std::thread other([&] {
    if (!pin(b)) std::exit(2);
    for (unsigned long i = 1; i < 2 * trips; i += 2) {
      while (line.turn.load(std::memory_order_acquire) != i) {
      }
      line.turn.store(i + 1, std::memory_order_release);
    }
  });
  if (!pin(a)) std::exit(2);
  const auto start = std::chrono::steady_clock::now();
  for (unsigned long i = 0; i < 2 * trips; i += 2) {
    line.turn.store(i + 1, std::memory_order_release);
    while (line.turn.load(std::memory_order_acquire) != i + 2) {
    }
  }
  const auto took = std::chrono::steady_clock::now() - start;
  other.join();
  return std::chrono::duration<double, std::nano>(took).count() / static_cast<double>(trips);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: netfront-c2c CPU_A CPU_B [ROUND_TRIPS]\n");
    return 2;
  }
  const auto a = static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10));
  const auto b = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
  const unsigned long trips = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 20000;
  std::array<double, 9> rounds{};
  for (double& r : rounds) r = round_trip_ns(a, b, trips);
  std::nth_element(rounds.begin(), rounds.begin() + 4, rounds.end());
  std::printf("%.0f\n", rounds[4]);
  return 0;
}
