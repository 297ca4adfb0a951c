// The fuzz targets' own main when they are not built with libFuzzer (GCC, the test suite):
// every file of the seed corpus once (regression), then random mutations of the seeds for a
// few seconds, all under whatever sanitizers the build has. Coverage-guided fuzzing is the
// same targets built with clang's -fsanitize=fuzzer (tools/fuzz.sh).
//
//   fuzz-<target> CORPUS_DIR [--seconds N] [--runs N]
//   (default: $NETFRONT_FUZZ_SECONDS or 2 seconds; --runs: exactly that many mutated inputs,
//   the same ones on every machine, whatever its speed). With $NETFRONT_FUZZ_LAST set, each
//   mutated input is written to that file before it runs: after a crash it holds the input
//   that crashed, to be run alone as a one-file corpus.
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
  unsigned long max_runs = 0;  // 0: as many as the seconds allow
  if (const char* s = std::getenv("NETFRONT_FUZZ_SECONDS")) seconds = std::atof(s);
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") seconds = std::atof(argv[i + 1]);
    if (std::string(argv[i]) == "--runs") max_runs = std::strtoul(argv[i + 1], nullptr, 10);
  }

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

  // Mutations: flip bits, set bytes to boundary values, cut, grow by a byte or by a copy of a
  // stretch of the input (so records repeat and inputs get long enough to wrap rings). A fixed
  // seed keeps a failing run repeatable.
  std::mt19937_64 rng(20261125);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  unsigned long runs = 0;
  const std::uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
  const char* last = std::getenv("NETFRONT_FUZZ_LAST");
  while (max_runs ? runs < max_runs : std::chrono::steady_clock::now() < deadline) {
    std::vector<std::uint8_t> input = seeds[rng() % seeds.size()];
    const unsigned edits = 1 + static_cast<unsigned>(rng() % 8);
    for (unsigned e = 0; e < edits; ++e) {
      switch (rng() % 6) {
        case 5:
          if (!input.empty() && input.size() < 4096) {
            const std::size_t from = rng() % input.size(), len = 1 + rng() % std::min<std::size_t>(64, input.size() - from);
            const std::vector<std::uint8_t> copy(input.begin() + static_cast<long>(from), input.begin() + static_cast<long>(from + len));
            for (unsigned k = 1 + static_cast<unsigned>(rng() % 4); k > 0; --k) input.insert(input.end(), copy.begin(), copy.end());
          }
          break;
        case 0: if (!input.empty()) input[rng() % input.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 1: if (!input.empty()) input[rng() % input.size()] = interesting[rng() % sizeof interesting]; break;
        case 2: if (!input.empty()) input[rng() % input.size()] = static_cast<std::uint8_t>(rng()); break;
        case 3: if (!input.empty()) input.resize(rng() % input.size()); break;
        case 4: input.push_back(static_cast<std::uint8_t>(rng())); break;
      }
    }
    if (last) {
      std::ofstream out(last, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++runs;
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %zu seeds, %lu mutated inputs in %.1f s, no failure\n", argv[0], seeds.size(), runs, took);
  return 0;
}
