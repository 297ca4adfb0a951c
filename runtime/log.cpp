#include "runtime/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "netfront/log.hpp"

namespace netfront {
namespace {

using spdlog::level::level_enum;

std::optional<level_enum> parse_level(std::string_view name) {
  static constexpr std::pair<std::string_view, level_enum> kNames[] = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug},       {"info", level_enum::info},
      {"warning", level_enum::warn}, {"warn", level_enum::warn},         {"error", level_enum::err},
      {"err", level_enum::err},      {"critical", level_enum::critical}, {"off", level_enum::off}};
  for (const auto& [n, level] : kNames)
    if (n == name) return level;
  return std::nullopt;
}

level_enum to_spdlog(log::Level level) {
  switch (level) {
    case log::Level::Trace: return level_enum::trace;
    case log::Level::Debug: return level_enum::debug;
    case log::Level::Info: return level_enum::info;
    case log::Level::Warn: return level_enum::warn;
    case log::Level::Error: return level_enum::err;
    case log::Level::Critical: return level_enum::critical;
    case log::Level::Off: break;
  }
  return level_enum::off;
}

// Every component netfront logs under: a spec naming another is a typo, refused.
constexpr std::string_view kComponents[] = {"runtime", "dpdk", "net", "netif", "vhost", "pci", "loop", "device", "lwip"};

bool known_component(std::string_view name) {
  for (std::string_view c : kComponents)
    if (c == name) return true;
  return false;
}

std::string component_list() {
  std::string list;
  for (std::string_view c : kComponents) list += (list.empty() ? "" : ", ") + std::string(c);
  return list;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// What a spec asks: a level for every component, levels for some, or both.
struct LevelSpec {
  std::optional<level_enum> every;
  std::vector<std::pair<std::string, level_enum>> components;
};

Result<LevelSpec> parse_spec(std::string_view spec) {
  LevelSpec parsed;
  for (std::size_t pos = 0; !spec.empty();) {
    const std::size_t comma = spec.find(',', pos);
    const std::string_view item = trimmed(spec.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
    if (item.empty()) return Error::unknown(Error::Cause::BadArgument, "log spec '" + std::string(spec) + "' has an empty item");
    const std::size_t eq = item.find('=');
    const std::string_view level_name = trimmed(eq == std::string_view::npos ? item : item.substr(eq + 1));
    const auto level = parse_level(level_name);
    if (!level) return Error::unknown(Error::Cause::BadArgument, "log level '" + std::string(level_name) + "' is none of trace, debug, info, warn, error, critical, off");
    if (eq == std::string_view::npos) {
      if (parsed.every) return Error::unknown(Error::Cause::BadArgument, "log spec names two levels for every component");
      parsed.every = *level;
    } else {
      const std::string_view component = trimmed(item.substr(0, eq));
      if (!known_component(component))
        return Error::unknown(Error::Cause::BadArgument, "no log component '" + std::string(component) + "' (there are " + component_list() + ")");
      parsed.components.emplace_back(std::string(component), *level);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return parsed;
}

// netfront's loggers, kept out of spdlog's registry: an application's own spdlog loggers and
// netfront's never change each other's levels. The levels of components whose logger is not
// made yet are kept too, so that a level set before a component first logs applies to it.
class Levels {
 public:
  static Levels& get() {
    static Levels levels;
    return levels;
  }

  spdlog::logger& logger(std::string_view component) {
    std::lock_guard lock(mutex_);
    if (auto it = loggers_.find(component); it != loggers_.end()) return *it->second;
    auto created = std::make_shared<spdlog::logger>(std::string(component), sink_);
    created->set_pattern("%H:%M:%S.%e %^%l%$ [%n] %v");
    const auto level = by_component_.find(component);
    created->set_level(level == by_component_.end() ? every_ : level->second);
    return *loggers_.emplace(std::string(component), std::move(created)).first->second;
  }

  void apply(const LevelSpec& spec) {
    std::lock_guard lock(mutex_);
    apply_unlocked(spec);
    for (auto& [name, logger] : loggers_) {
      const auto level = by_component_.find(name);
      logger->set_level(level == by_component_.end() ? every_ : level->second);
    }
  }

 private:
  Levels() : sink_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {
    const char* env = std::getenv("NETFRONT_LOG");
    if (!env) return;
    if (auto spec = parse_spec(env)) {
      apply_unlocked(*spec);
    } else {
      std::fprintf(stderr, "netfront: NETFRONT_LOG ignored: %s\n", spec.error().message().c_str());
    }
  }
  // A level for every component replaces those set one by one before it.
  void apply_unlocked(const LevelSpec& spec) {
    if (spec.every) {
      every_ = *spec.every;
      by_component_.clear();
    }
    for (const auto& [name, level] : spec.components) by_component_[name] = level;
  }

  std::mutex mutex_;
  spdlog::sink_ptr sink_;
  level_enum every_ = level_enum::info;
  std::map<std::string, level_enum, std::less<>> by_component_;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers_;
};

}  // namespace

spdlog::logger& runtime::logger(std::string_view component) { return Levels::get().logger(component); }

Result<> log::set_levels(std::string_view spec) {
  auto parsed = parse_spec(spec);
  if (!parsed) return std::move(parsed).error();
  Levels::get().apply(*parsed);
  return Ok{};
}

void log::set_level(Level level) { Levels::get().apply({.every = to_spdlog(level), .components = {}}); }

Result<> log::set_level(std::string_view component, Level level) {
  if (!known_component(component))
    return Error::unknown(Error::Cause::BadArgument, "no log component '" + std::string(component) + "' (there are " + component_list() + ")");
  Levels::get().apply({.every = std::nullopt, .components = {{std::string(component), to_spdlog(level)}}});
  return Ok{};
}

}  // namespace netfront
