#include "drivers/netif/telemetry.hpp"

#include <rte_telemetry.h>

#include <cstdlib>
#include <map>
#include <mutex>

namespace netfront::drivers {
namespace {

// Numbered in connect order; a number is never reused, so a script's N keeps meaning one device.
struct Directory {
  std::mutex mutex;
  std::map<unsigned, TelemetrySource*> sources;
  unsigned next = 0;
};

Directory& directory() {
  static Directory d;
  return d;
}

// Answers a request about the source numbered `params` ("N") with `answer(source)`, under the
// directory's lock so the source stays published meanwhile; -EINVAL when there is none.
template <typename Answer>
int answer_for(const char* params, Answer&& answer) {
  if (!params || !*params) return -EINVAL;
  char* end = nullptr;
  const unsigned long n = std::strtoul(params, &end, 10);
  if (*end != '\0') return -EINVAL;
  Directory& dir = directory();
  std::lock_guard lock(dir.mutex);
  auto it = dir.sources.find(static_cast<unsigned>(n));
  if (it == dir.sources.end()) return -EINVAL;
  return answer(*it->second);
}

void add_stats(rte_tel_data* d, const Stats& s) {
  rte_tel_data_add_dict_u64(d, "rx_pkts", s.rx_pkts);
  rte_tel_data_add_dict_u64(d, "rx_bytes", s.rx_bytes);
  rte_tel_data_add_dict_u64(d, "tx_pkts", s.tx_pkts);
  rte_tel_data_add_dict_u64(d, "tx_bytes", s.tx_bytes);
  rte_tel_data_add_dict_u64(d, "rx_drops", s.rx_drops);
  rte_tel_data_add_dict_u64(d, "tx_drops", s.tx_drops);
  rte_tel_data_add_dict_u64(d, "tx_ring_full", s.tx_ring_full);
  rte_tel_data_add_dict_u64(d, "device_errors", s.device_errors);
  rte_tel_data_add_dict_u64(d, "tx_stalls", s.tx_stalls);
  rte_tel_data_add_dict_u64(d, "tx_renotified", s.tx_renotified);
  rte_tel_data_add_dict_u64(d, "rx_length_errors", s.rx_length_errors);
}

int list(const char*, const char*, rte_tel_data* d) {
  Directory& dir = directory();
  std::lock_guard lock(dir.mutex);
  rte_tel_data_start_dict(d);
  for (const auto& [n, source] : dir.sources)
    rte_tel_data_add_dict_string(d, std::to_string(n).c_str(), source->telemetry_id().c_str());
  return 0;
}

int info(const char*, const char* params, rte_tel_data* d) {
  return answer_for(params, [d](const TelemetrySource& s) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "id", s.telemetry_id().c_str());
    rte_tel_data_add_dict_string(d, "mac", s.telemetry_mac().to_string().c_str());
    rte_tel_data_add_dict_u64(d, "mtu", s.telemetry_mtu());
    rte_tel_data_add_dict_u64(d, "queue_pairs", s.telemetry_queues());
    return 0;
  });
}

int stats(const char*, const char* params, rte_tel_data* d) {
  return answer_for(params, [d](const TelemetrySource& s) {
    rte_tel_data_start_dict(d);
    Stats sum;
    for (unsigned q = 0; q < s.telemetry_queues(); ++q) {
      const Stats qs = s.telemetry_stats(q);
      sum += qs;
      rte_tel_data* per_queue = rte_tel_data_alloc();
      if (!per_queue) return -ENOMEM;
      rte_tel_data_start_dict(per_queue);
      add_stats(per_queue, qs);
      rte_tel_data_add_dict_container(d, ("q" + std::to_string(q)).c_str(), per_queue, 0);  // d now owns it
    }
    add_stats(d, sum);
    return 0;
  });
}

void register_commands() {
  static std::once_flag once;
  std::call_once(once, [] {
    rte_telemetry_register_cmd("/netfront/list", list, "Lists netfront devices: number -> device id. No parameters");
    rte_telemetry_register_cmd("/netfront/info", info, "One netfront device's id, mac, mtu, queue pairs. Parameter: number");
    rte_telemetry_register_cmd("/netfront/stats", stats,
                               "One netfront device's counters, summed and per queue pair (q0, q1, ...). Parameter: number");
  });
}

}  // namespace

void telemetry_publish(TelemetrySource& source) {
  register_commands();
  Directory& dir = directory();
  std::lock_guard lock(dir.mutex);
  dir.sources[dir.next++] = &source;
}

void telemetry_withdraw(TelemetrySource& source) {
  Directory& dir = directory();
  std::lock_guard lock(dir.mutex);
  std::erase_if(dir.sources, [&](const auto& entry) { return entry.second == &source; });
}

}  // namespace netfront::drivers
