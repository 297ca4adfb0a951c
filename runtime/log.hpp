// Per-component loggers ("runtime", "dpdk", "ring", "net", "vhost", "pci", ...), all writing
// to one stderr sink. Their levels are set through netfront/log.hpp (and NETFRONT_LOG).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace netfront::runtime {

// Thread-safe; the logger lives for the whole process.
spdlog::logger& logger(std::string_view component);

}  // namespace netfront::runtime
