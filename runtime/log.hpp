// Per-component loggers ("runtime", "dpdk", "ring", "net", "vhost", "pci", ...), all writing
// to one stderr sink. Levels come from NETFRONT_LOG in spdlog's syntax, e.g. "warn" or
// "info,ring=debug,dpdk=warn"; the default is "info".
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace netfront::runtime {

// Thread-safe; the logger lives for the whole process.
spdlog::logger& logger(std::string_view component);

}  // namespace netfront::runtime
