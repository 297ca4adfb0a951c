#include "runtime/log.hpp"

#include <spdlog/cfg/helpers.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>
#include <string>

namespace netfront::runtime {

spdlog::logger& logger(std::string_view component) {
  static std::once_flag levels_loaded;
  std::call_once(levels_loaded, [] {
    spdlog::set_level(spdlog::level::info);
    if (const char* spec = std::getenv("NETFRONT_LOG")) spdlog::cfg::helpers::load_levels(spec);
  });
  static std::mutex create_mutex;
  const std::string name(component);
  std::lock_guard lock(create_mutex);
  if (auto existing = spdlog::get(name)) return *existing;
  auto created = spdlog::stderr_color_mt(name);
  created->set_pattern("%H:%M:%S.%e %^%l%$ [%n] %v");
  return *created;
}

}  // namespace netfront::runtime
