// The DPDK headers the public API needs (rte_mbuf underlies every Buffer). Some of DPDK's
// inline functions use `++` on volatile members, which C++20 deprecates (-Wvolatile, on by
// default); an application including netfront should not see warnings about DPDK's code.
#pragma once

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-volatile"
#else
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wvolatile"
#endif
#include <rte_mbuf.h>
#include <rte_mempool.h>
#if defined(__clang__)
#pragma clang diagnostic pop
#else
#pragma GCC diagnostic pop
#endif
