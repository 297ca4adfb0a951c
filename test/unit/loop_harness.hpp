// Test harness around the in-process device: a Netif over a loop device (the faulty build) the test can reach
// (faults, counters), plus helpers that send frames and collect what comes back.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/netif/attach.hpp"
#include "drivers/virtio/net/virtio_net_device.hpp"
#include "test/support/loop_faults.hpp"
#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"

namespace netfront::testing {

struct LoopRig {
  EventLoop loop;
  std::optional<PacketPool> pool;
  std::optional<Netif> netif;
  virtio::transport::loop::FaultyLoopDevice* device = nullptr;
  virtio::net::VirtioNetDevice* driver = nullptr;
  std::vector<std::vector<std::byte>> received;
  std::optional<io<Result<>>> listening;

  // Opens `id` ("loop:..."); `before_open` may set faults the device shows during bring-up.
  // The device has `device_pairs` queue pairs (its max_virtqueue_pairs; 0: as many as the id's
  // queues=N), the driver uses as many as queues=N asks for.
  Result<> open(const std::string& id, const std::function<void(virtio::transport::loop::FaultyLoopDevice&)>& before_open = {},
                unsigned device_pairs = 0, virtio::net::DeviceOptions options = {}) {
    auto made = PacketPool::create({.size = 4095, .cache = 0});
    if (!made) return std::move(made).error();
    pool.emplace(std::move(*made));
    auto parsed = DeviceId::parse(id);
    if (!parsed) return std::move(parsed).error();
    auto dev = std::make_unique<virtio::transport::loop::FaultyLoopDevice>(parsed->loop(), device_pairs ? device_pairs : parsed->queue_pairs(), &loop);
    device = dev.get();
    if (before_open) before_open(*device);
    options.queue_pairs = parsed->queue_pairs();
    options.offloads = parsed->offloads();
    options.mtu = parsed->mtu();
    options.vlan_filter = parsed->vlan_filter();
    options.hash_report = parsed->hash_report();
    auto opened = virtio::net::VirtioNetDevice::open(std::move(dev), options);
    if (!opened) {
      device = nullptr;
      return std::move(opened).error().to_error();
    }
    driver = opened->get();
    netif.emplace(drivers::attach(*parsed, std::move(*opened)));
    return Ok{};
  }

  void listen() {
    listening.emplace(netif->listen([this](Buffer f) {
      auto bytes = f.bytes();
      received.emplace_back(bytes.begin(), bytes.end());
      return make_ready_io();
    }));
  }

  // A frame of `len` bytes whose every byte depends on (seed, position).
  Buffer frame(std::size_t len, unsigned seed) {
    auto b = Buffer::create(pool->get(), len);
    EXPECT_TRUE(b) << (b ? "" : b.error().to_string());
    for (std::size_t i = 0; i < len; ++i) b->set_u8(i, static_cast<std::uint8_t>(seed * 31 + i * 7));
    return std::move(*b);
  }
  static std::vector<std::byte> expected(std::size_t len, unsigned seed) {
    std::vector<std::byte> v(len);
    for (std::size_t i = 0; i < len; ++i) v[i] = static_cast<std::byte>(static_cast<std::uint8_t>(seed * 31 + i * 7));
    return v;
  }

  // Runs the loop until `n` frames came back or `max_rounds` iterations passed.
  void run_until_received(std::size_t n, unsigned max_rounds = 2'000'000) {
    for (unsigned i = 0; i < max_rounds && received.size() < n; ++i) loop.run_once();
  }
  void run_rounds(unsigned n) {
    for (unsigned i = 0; i < n; ++i) loop.run_once();
  }
  // Makes the device ask for a reset (A13) and runs the loop until the driver has it back up;
  // whether it came back.
  bool reset_device() {
    const auto resets = device->counters().resets;
    device->faults().needs_reset = true;
    for (unsigned i = 0; i < 100000 && !(device->counters().resets > resets && netif->link_up()); ++i) loop.run_once();
    return device->counters().resets > resets && netif->link_up();
  }
  unsigned rx_pool_in_use() const { return rte_mempool_in_use_count(driver->rx_pool()); }
};

}  // namespace netfront::testing
