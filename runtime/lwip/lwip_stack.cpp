// LwipStack and LwipNetif: lwIP brought up and driven on one netfront event loop. lwIP is
// started with lwip_init() alone, never tcpip_init(): with no tcpip thread marked, the core
// lock checks of Debian's build (LWIP_TCPIP_CORE_LOCKING) pass on the one thread that calls.
#include <lwip/etharp.h>
#include <lwip/init.h>
#include <lwip/ip4_addr.h>
#include <lwip/netif.h>
#include <lwip/timeouts.h>
#include <netif/ethernet.h>
#include <sys/random.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/lwip/buffer_pbuf.hpp"
#include "runtime/lwip/netif_glue.hpp"

namespace netfront {
namespace {

// lwIP's timers (TCP's 250 ms, ARP's and IPv6's 1 s, reassembly) are due at these multiples;
// sys_check_timeouts runs whichever are due.
constexpr auto kTimerTick = std::chrono::milliseconds(10);

LwipStack* current_stack = nullptr;
std::optional<std::thread::id> lwip_thread;  // set once lwip_init has run
// What lwip::header_pool() gives. The current stack's, not a netif's: a write the ring took is
// not waited for, so header pieces may be on a device's transmit ring after their LwipNetif is
// gone (freed then, the pool's memory would be handed out again before the device read them).
std::optional<PacketPool> headers;

Error bad(std::string what) { return Error::unknown(Error::Cause::BadArgument, std::move(what)); }

ip4_addr_t to_lwip(const Ipv4Address& a) {
  ip4_addr_t r;
  std::memcpy(&r.addr, a.bytes.data(), sizeof r.addr);  // both in network order
  return r;
}

void follow_status(lwip::NetifGlue& s, const LinkStatus& before, const LinkStatus& now) {
  if (now.up != before.up) {
    ++s.counters.link_changes;
    // netif_set_link_up sends the gratuitous ARP and IPv6 reports itself.
    now.up ? netif_set_link_up(&s.nif) : netif_set_link_down(&s.nif);
  } else if (now.up && now.announcements != before.announcements) {
    etharp_gratuitous(&s.nif);  // the device was moved (§5.1.6.5.4): tell the network where we are
  }
}

io<void> follow_link(std::shared_ptr<lwip::NetifGlue> s) {
  LinkStatus seen = s->device->link_status();
  // attach() told lwIP of the link as it was then: a change before run() is told now.
  if (seen.up != netif_is_link_up(&s->nif)) {
    ++s->counters.link_changes;
    seen.up ? netif_set_link_up(&s->nif) : netif_set_link_down(&s->nif);
  }
  for (;;) {
    Result<LinkStatus> now = co_await s->device->link_change(seen);
    if (!now || s->removed) co_return;
    follow_status(*s, seen, *now);
    seen = *now;
  }
}

}  // namespace

struct LwipStack::Timers {
  explicit Timers(EventLoop& loop) : tick(loop, [] { sys_check_timeouts(); }) {}
  Timer tick;
};

LwipStack::LwipStack(EventLoop& loop) : timers_(std::make_unique<Timers>(loop)) { timers_->tick.arm_periodic(kTimerTick); }

LwipStack::~LwipStack() {
  // Pieces of it the rings still hold are the devices' to give back, later.
  if (headers && headers->in_use() > 0) headers->abandon();
  headers.reset();
  current_stack = nullptr;
}

PacketPool* lwip::header_pool() noexcept {
  if (!current_stack) return nullptr;
  if (!headers) {
    auto made = PacketPool::create({.size = 1023, .cache = 32});
    if (!made) return nullptr;
    headers.emplace(std::move(*made));
  }
  return &*headers;
}

Result<std::unique_ptr<LwipStack>> LwipStack::start(EventLoop& loop) {
  if (current_stack) return bad("an LwipStack exists already: lwIP is one stack per process");
  if (lwip_thread && *lwip_thread != std::this_thread::get_id())
    return bad("lwIP was started on another thread, and its state is that thread's");
  if (!lwip_thread) {
    // lwIP's initial sequence numbers and local ports come from rand() (LWIP_RAND).
    unsigned seed = 0;
    if (::getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = static_cast<unsigned>(Clock::now().time_since_epoch().count());
    std::srand(seed);
    lwip_init();
    lwip_thread = std::this_thread::get_id();
  }
  std::unique_ptr<LwipStack> stack(new LwipStack(loop));
  current_stack = stack.get();
  return stack;
}

Result<std::unique_ptr<LwipNetif>> LwipStack::attach(Netif& device, const Ipv4Addressing& addressing) {
  if (!device.connected()) return Error::disconnected("attach needs a connected Netif");
  if (*lwip_thread != std::this_thread::get_id()) return bad("attach is called on the thread that started the LwipStack");
  auto s = std::make_shared<lwip::NetifGlue>(device);
  s->self = s;
  const ip4_addr_t ip = to_lwip(addressing.address), mask = to_lwip(addressing.netmask()), gw = to_lwip(addressing.gateway);
  // No tcpip thread: the input function is lwIP's Ethernet input itself, called on this thread.
  if (!netif_add(&s->nif, &ip, &mask, &gw, s.get(), lwip::NetifGlue::init, ethernet_input))
    return Error::unknown(Error::Cause::NoResources, "lwIP refused the netif");
  if (!netif_default) netif_set_default(&s->nif);
  netif_set_up(&s->nif);
  if (addressing.ipv6_link_local) netif_create_ip6_linklocal_address(&s->nif, 1);
  if (device.link_up()) netif_set_link_up(&s->nif);
  return std::unique_ptr<LwipNetif>(new LwipNetif(std::move(s)));
}

std::uint64_t LwipStack::pbufs_held() noexcept { return lwip::held(); }

LwipNetif::LwipNetif(std::shared_ptr<lwip::NetifGlue> glue) noexcept : glue_(std::move(glue)) {}

LwipNetif::~LwipNetif() {
  glue_->removed = true;
  netif_remove(&glue_->nif);
}

io<Result<>> LwipNetif::run() {
  std::shared_ptr<lwip::NetifGlue> s = glue_;
  if (s->running) co_return bad("LwipNetif::run is running already");
  s->running = true;
  io<Result<>> listening = s->device->listen([s](Buffer frame) {
    if (!s->removed) s->receive(std::move(frame));
    return make_ready_io();
  });
  if (!listening.ready()) (void)follow_link(s);  // ends when the device disconnects
  Result<> r = co_await std::move(listening);
  s->running = false;
  co_return r;
}

::netif* LwipNetif::netif() noexcept { return &glue_->nif; }

const LwipCounters& LwipNetif::counters() const noexcept { return glue_->counters; }

::pbuf* buffer_pbuf(Buffer bytes) { return lwip::wrap(std::move(bytes)); }

}  // namespace netfront
