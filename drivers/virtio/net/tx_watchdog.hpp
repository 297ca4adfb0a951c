// F10: notices a transmit ring the device stopped completing. The queue pair's own loop looks
// every so often; with chains in flight and none completed for the limit, the ring is stalled
// until the device moves again.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace netfront::virtio::net {

class TxWatchdog {
 public:
  using Clock = std::chrono::steady_clock;

  // How often a loop looks, for a stall `limit`: a few looks within it.
  static constexpr std::chrono::milliseconds look_period(std::chrono::milliseconds limit) noexcept {
    return std::max(std::chrono::milliseconds(10), limit / 4);
  }

  enum class Verdict {
    Moving,        // completions since the last look, nothing in flight, or the first look
    Resumed,       // Moving, after a stall
    Waiting,       // nothing completed yet, within the limit
    Stalled,       // nothing completed for the limit: this look found it
    StillStalled,  // and it stays so
  };

  // `in_flight` chains wait for the device, which completed `completed` chains so far.
  Verdict look(Clock::time_point now, std::chrono::milliseconds limit, std::uint16_t in_flight,
               std::uint64_t completed) noexcept {
    // The first look (or the first since the rings restarted) starts the period.
    if (in_flight == 0 || completed != seen_completed_ || last_progress_ == Clock::time_point{}) {
      seen_completed_ = completed;
      last_progress_ = now;
      const bool was_stalled = stalled_;
      stalled_ = false;
      return was_stalled ? Verdict::Resumed : Verdict::Moving;
    }
    if (now - last_progress_ < limit) return Verdict::Waiting;
    if (stalled_) return Verdict::StillStalled;
    stalled_ = true;
    return Verdict::Stalled;
  }

  // The rings started over: the next look is a first one.
  void restart() noexcept {
    last_progress_ = {};
    stalled_ = false;
  }

 private:
  std::uint64_t seen_completed_ = 0;
  Clock::time_point last_progress_{};
  bool stalled_ = false;
};

}  // namespace netfront::virtio::net
