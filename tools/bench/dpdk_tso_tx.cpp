// dpdk-tso-tx: the DPDK side of tools/bench/tso.sh. It transmits TCP/IPv4 super-frames with TSO
// through any DPDK port (DPDK's own virtio-user PMD in the benchmark), as netfront-perf --tso
// does through netfront: one frame built once as an mbuf chain and sent again and again (each
// send takes a reference to every segment; the backend only reads them), the TSO request in
// the mbuf as DPDK has it (RTE_MBUF_F_TX_TCP_SEG, l2/l3/l4 lengths, tso_segsz, the TCP
// checksum field holding the pseudo-header's sum without the length). Nothing of netfront is
// in it: it is DPDK's offload path against netfront's.
//
//   dpdk-tso-tx EAL-ARGS -- [--size BYTES] [--mss N] [--burst N]
//
// Port 0 is used; it runs until SIGINT or SIGTERM and prints the frames sent.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t stop = 0;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "dpdk-tso-tx: %s\n", why.c_str());
  std::exit(1);
}

// The super-frame: Ethernet, IPv4, TCP, then the payload, in segments of 2000 bytes.
rte_mbuf* build(rte_mempool* pool, unsigned size, unsigned mss) {
  std::vector<std::uint8_t> f(size);
  static constexpr std::uint8_t head[] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,  // Ethernet
                                          0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,  // IPv4
                                          0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
  std::memcpy(f.data(), head, sizeof head);
  for (std::size_t i = sizeof head; i < size; ++i) f[i] = static_cast<std::uint8_t>(i % 251);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + 14);
  ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(size - 14));
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  const std::uint64_t flags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
  reinterpret_cast<rte_tcp_hdr*>(f.data() + 34)->cksum = rte_ipv4_phdr_cksum(ip, flags);
  rte_mbuf* first = nullptr;
  for (std::size_t at = 0; at < size;) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) die("no mbufs");
    const std::size_t n = std::min<std::size_t>(size - at, 2000);
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(n)), f.data() + at, n);
    if (!first) first = m;
    else if (rte_pktmbuf_chain(first, m) != 0) die("too many segments");
    at += n;
  }
  first->ol_flags = flags;
  first->l2_len = 14;
  first->l3_len = 20;
  first->l4_len = 20;
  first->tso_segsz = static_cast<std::uint16_t>(mss);
  return first;
}

}  // namespace

int main(int argc, char** argv) {
  const int eal = rte_eal_init(argc, argv);
  if (eal < 0) die("EAL init failed");
  argc -= eal;
  argv += eal;
  unsigned size = 65549, mss = 1448, burst = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const unsigned v = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
    if (k == "--size") size = v;
    else if (k == "--mss") mss = v;
    else if (k == "--burst") burst = v;
    else die("unknown option " + k);
  }
  if (size < 55 || size > 65549 || mss == 0 || burst == 0 || burst > 512) die("bad --size, --mss or --burst");
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  if (rte_eth_dev_count_avail() < 1) die("no port");
  rte_mempool* pool = rte_pktmbuf_pool_create("tso", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  if (!pool) die("no mempool");
  rte_eth_dev_info info{};
  rte_eth_dev_info_get(0, &info);
  const std::uint64_t want = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if ((info.tx_offload_capa & want) != want) die("the port has no TSO");
  rte_eth_conf conf{};
  conf.txmode.offloads = want;
  if (rte_eth_dev_configure(0, 1, 1, &conf) != 0) die("configure failed");
  if (rte_eth_rx_queue_setup(0, 0, 256, rte_eth_dev_socket_id(0), nullptr, pool) != 0) die("rx queue");
  rte_eth_txconf txconf = info.default_txconf;
  txconf.offloads = want;
  if (rte_eth_tx_queue_setup(0, 0, 256, rte_eth_dev_socket_id(0), &txconf) != 0) die("tx queue");
  if (rte_eth_dev_start(0) != 0) die("start failed");
  rte_mbuf* frame = build(pool, size, mss);
  std::vector<rte_mbuf*> out(burst);
  std::uint64_t sent = 0;
  while (!stop) {
    rte_pktmbuf_refcnt_update(frame, static_cast<std::int16_t>(burst));
    for (auto& m : out) m = frame;
    const std::uint16_t n = rte_eth_tx_burst(0, 0, out.data(), static_cast<std::uint16_t>(burst));
    sent += n;
    if (n < burst) rte_pktmbuf_refcnt_update(frame, static_cast<std::int16_t>(n) - static_cast<std::int16_t>(burst));
    rte_mbuf* rx[32];
    const std::uint16_t got = rte_eth_rx_burst(0, 0, rx, 32);
    for (std::uint16_t i = 0; i < got; ++i) rte_pktmbuf_free(rx[i]);
  }
  std::printf("dpdk-tso-tx: %llu super-frames of %u bytes sent\n", static_cast<unsigned long long>(sent), size);
  rte_eth_dev_stop(0);
  rte_eth_dev_close(0);
  rte_pktmbuf_free(frame);
  rte_eal_cleanup();
  return 0;
}
