// What the runtime's internal parts (device memory, the mbuf pools) report when they fail.
#pragma once

#include <cstdint>
#include <string_view>

#include "runtime/fault.hpp"

namespace netfront::runtime {

enum class RuntimeError : std::uint8_t {
  BadRequest,   // an alignment, size or layout no memory can have
  Exhausted,    // device memory or a pool ran out
  NoHugepages,  // the memory asked for needs hugepages the machine does not have free
  System,       // the operating system refused a call
  Count,        // not a code: how many there are
};

inline constexpr CodeInfo<RuntimeError> kRuntimeErrors[] = {
    {RuntimeError::BadRequest, "memory request no memory can satisfy", Error::Kind::Unknown, Error::Cause::BadArgument},
    {RuntimeError::Exhausted, "out of device memory", Error::Kind::Unknown, Error::Cause::NoResources},
    {RuntimeError::NoHugepages, "not enough hugepages", Error::Kind::Unknown, Error::Cause::NoResources},
    {RuntimeError::System, "system call failed", Error::Kind::Unknown, Error::Cause::System},
};
static_assert(in_enum_order(kRuntimeErrors));

constexpr std::string_view layer_of(RuntimeError) noexcept { return "runtime"; }
constexpr std::span<const CodeInfo<RuntimeError>> code_table(RuntimeError) noexcept { return kRuntimeErrors; }

}  // namespace netfront::runtime
