// A program built against an installed netfront (pkg-config --cflags --libs netfront). It
// connects a device (by default the in-process loop: device, which echoes every frame back
// on the queue pair it came from), sends frames with both forms of write and with writev,
// receives them with both forms of listen, and checks the counters and the errors.
#include <cstdio>

#include "netfront/event_loop.hpp"
#include "netfront/netif.hpp"
#include "netfront/packet_pool.hpp"

using namespace netfront;
using namespace std::chrono_literals;

// A broadcast of the local experimental EtherType; the frame's last byte is its tag.
void set_header(Buffer& frame) {
  for (int i = 0; i < 6; ++i) frame.set_u8(i, 0xff);
  frame.set_be16(12, 0x88b5);
}

std::size_t fill_frame(Buffer& frame, std::uint8_t tag) {
  set_header(frame);
  frame.set_u8(frame.length() - 1, tag);
  return frame.length();
}

int fail(const char* what, const Error& error) {
  std::printf("%s: %s\n", what, error.to_string().c_str());
  return 1;
}

io<int> app(EventLoop& loop, const char* id) {
  Result<Netif> dev = co_await Netif::connect(id);
  if (!dev) co_return fail("connect", dev.error());
  if (dev->queue_pairs() < 2) co_return fail("connect", Error::unknown("two queue pairs wanted"));

  // V1's listen takes queue pair 0's frames; Mirage_net 4's listen ~header_size queue 1's.
  unsigned tags = 0;
  auto on_frame = [&](Buffer frame) {
    if (frame.get_be16(12) == 0x88b5) tags |= 1u << frame.get_u8(frame.length() - 1);
    return make_ready_io();
  };
  io<Result<>> v1_listen = dev->listen(on_frame);
  io<Result<>> mirage_listen = dev->queue(1).listen(14, on_frame);

  // Mirage_net 4's write ~size: the frame is built in a buffer of the device's own pool.
  Result<> sent = co_await dev->queue(1).write(60, [](Buffer& frame) { return fill_frame(frame, 0); });
  if (!sent) co_return fail("write ~size", sent.error());

  // V1's write and writev: frames of a pool of the application's own, sent without a copy.
  Result<PacketPool> pool = PacketPool::create({.size = 255});
  if (!pool) co_return fail("pool", pool.error());
  Result<Buffer> frame = Buffer::create(pool->get(), 60);
  if (!frame) co_return fail("buffer", frame.error());
  fill_frame(*frame, 1);
  if (sent = co_await dev->write(std::move(*frame)); !sent) co_return fail("write", sent.error());
  Result<Buffer> header = Buffer::create(pool->get(), 14), payload = Buffer::create(pool->get(), 46);
  if (!header || !payload) co_return fail("buffer", Error::unknown("pool exhausted"));
  set_header(*header);
  payload->set_u8(45, 2);
  const Buffer pieces[] = {*header, *payload};
  if (sent = co_await dev->writev(pieces); !sent) co_return fail("writev", sent.error());

  // What is refused: more than mtu + 14 bytes, and a fill that claims more than it was given.
  Result<> refused = co_await dev->write(dev->mtu() + 15, [](Buffer& f) { return f.length(); });
  if (refused || !refused.error().is_invalid_length()) co_return fail("oversize write", Error::unknown("accepted"));
  refused = co_await dev->write(60, [](Buffer&) { return std::size_t{61}; });
  if (refused || !refused.error().is_invalid_length()) co_return fail("overlong fill", Error::unknown("accepted"));

  for (int waited = 0; tags != 0b111 && waited < 1000; ++waited) co_await loop.sleep(1ms);
  const Stats stats = dev->get_stats_counters();
  std::printf("%s: mac %s, mtu %u; sent %llu, received %llu frames (tags %#x)\n", id, dev->mac().to_string().c_str(),
              dev->mtu(), static_cast<unsigned long long>(stats.tx_pkts), static_cast<unsigned long long>(stats.rx_pkts),
              tags);
  if (tags != 0b111 || stats.tx_pkts != 3 || stats.rx_pkts != 3 || dev->get_stats_counters(1).tx_pkts != 1)
    co_return fail("echo", Error::unknown("frames or counters missing"));

  co_await dev->disconnect();
  Result<> v1 = co_await v1_listen, mirage = co_await mirage_listen;
  if (!v1 || !mirage) co_return fail("listen", Error::unknown("did not end cleanly"));
  refused = co_await dev->queue(1).write(60, [](Buffer& f) { return fill_frame(f, 0); });
  if (refused || !refused.error().is_disconnected()) co_return fail("write after disconnect", Error::unknown("accepted"));
  co_return 0;
}

int main(int argc, char** argv) {
  EventLoop loop;
  return loop.run_until(app(loop, argc > 1 ? argv[1] : "loop:queues=2"));
}
