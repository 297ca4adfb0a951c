// The fuzz targets' own main when they are not built with libFuzzer (GCC, the test suite):
// every file of the seed corpus once (regression), then random mutations of the seeds for a
// few seconds, all under whatever sanitizers the build has. Coverage-guided fuzzing is the
// same targets built with clang's -fsanitize=fuzzer (tools/fuzz.sh).
//
//   fuzz-<target> CORPUS_DIR [--seconds N]   (default N: $NETFRONT_FUZZ_SECONDS or 2)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [--seconds N]\n", argv[0]);
    return 2;
  }
  double seconds = 2;
  if (const char* s = std::getenv("NETFRONT_FUZZ_SECONDS")) seconds = std::atof(s);
  for (int i = 2; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--seconds") seconds = std::atof(argv[i + 1]);

  std::vector<std::vector<std::uint8_t>> seeds;
  for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(e.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: no seeds in %s\n", argv[0], argv[1]);
    return 2;
  }
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());

  // Mutations: flip bits, set bytes to boundary values, cut or grow. A fixed seed keeps a
  // failing run repeatable.
  std::mt19937_64 rng(20261125);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  unsigned long runs = 0;
  const std::uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<std::uint8_t> input = seeds[rng() % seeds.size()];
    const unsigned edits = 1 + static_cast<unsigned>(rng() % 8);
    for (unsigned e = 0; e < edits; ++e) {
      switch (rng() % 5) {
        case 0: if (!input.empty()) input[rng() % input.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 1: if (!input.empty()) input[rng() % input.size()] = interesting[rng() % sizeof interesting]; break;
        case 2: if (!input.empty()) input[rng() % input.size()] = static_cast<std::uint8_t>(rng()); break;
        case 3: if (!input.empty()) input.resize(rng() % input.size()); break;
        case 4: input.push_back(static_cast<std::uint8_t>(rng())); break;
      }
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++runs;
  }
  std::printf("%s: %zu seeds, %lu mutated inputs in %.1f s, no failure\n", argv[0], seeds.size(), runs, seconds);
  return 0;
}
