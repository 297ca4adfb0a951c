#!/usr/bin/env python3
"""Proof that each check is needed: for every hardening row of docs/reliability.md and every
length or bounds check of the API, a small patch that disables that one check, and the test
that must fail with it applied.

The patches are applied, one at a time, to a scratch copy of the working tree (tracked files
as they are now, so uncommitted work is measured too), built with ASan and UBSan (a check
whose absence only shows as a stray read is still caught), and only the test binary that
needs it is rebuilt. Each test first runs unpatched and must pass. A patch is caught when the
named test fails an assertion (read from its gtest XML: the case must have run), crashes
under the sanitizers, or hangs past TEST_TIMEOUT (the bound it checks is gone); a fuzz target
runs its seeds and FUZZ_RUNS mutated inputs, the same on every machine. Prints a table (row,
patch, test, caught / missed) and exits non-zero if any patch was missed, no longer applies,
ran nothing or broke the build.

  tools/mutate.py                 # every mutation (about half an hour on 2 CPUs)
  tools/mutate.py --only C4,F2    # the rows named
  tools/mutate.py --list          # the table of mutations, without running them
  tools/mutate.py --markdown F    # also write the result table to F
Not part of the default suite (tools/test.sh): it rebuilds a binary per mutation.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Mutation:
    row: str       # checklist row (docs/reliability.md) or API check
    what: str      # the check the patch disables
    file: str      # the file patched, from the top of the tree
    old: str       # text that must occur exactly once
    new: str       # what it becomes
    target: str    # the meson target to rebuild
    test: str      # gtest filter, or a fuzz target's corpus name for "fuzz-*" targets


def gtest(target, test):
    return target, test


M = Mutation
NET_DEVICE = "drivers/virtio/net/virtio_net_device.cpp"
BRING_UP = "drivers/virtio/net/device_bring_up.cpp"
RECOVERY = "drivers/virtio/net/device_recovery.cpp"
QUEUE_PAIR = "drivers/virtio/net/queue_pair.cpp"
RX_QUEUE = "drivers/virtio/net/rx_queue.hpp"
TX_QUEUE = "drivers/virtio/net/tx_queue.hpp"
TX_WATCHDOG = "drivers/virtio/net/tx_watchdog.hpp"
CONFIG = "drivers/virtio/net/net_config.cpp"
FEATURES = "drivers/virtio/net/features.cpp"
CORE = "drivers/virtio/ring/ring_core.hpp"
SPLIT = "drivers/virtio/ring/split_ring.cpp"
PACKED = "drivers/virtio/ring/packed_ring.cpp"
CAPS = "drivers/virtio/transport/pci/virtio_capabilities.cpp"
PCI = "drivers/virtio/transport/pci/virtio_pci_transport.cpp"
MMIO = "drivers/virtio/transport/mmio/mmio_transport.cpp"
CHANNEL = "drivers/virtio/transport/vhost_user/channel.cpp"
VHOST = "drivers/virtio/transport/vhost_user/vhost_user_transport.cpp"
CONTROL = "drivers/virtio/net/control_queue.cpp"
NETIF = "drivers/netif/netif.cpp"
SPEC = "drivers/virtio/net/net_spec.hpp"
OFFLOAD_HEADER = "drivers/virtio/net/offload_header.cpp"
CHECKSUM_PLACE = "    if (std::size_t{h.csum_start} + h.csum_offset + 2 > length) return std::nullopt;\n"  # C6
NO_GSO = "  if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) return std::nullopt;\n"  # C7

MUTATIONS = [
    # A. negotiation, configuration space, PCI transport
    M("A1", "FEATURES_OK not re-read", BRING_UP, "if (!(t.status() & VIRTIO_CONFIG_S_FEATURES_OK))", "if (false)",
      "unit-faults", "BringUpFaultTest.DeviceRefusingFeaturesOkFailsConnectClearly"),
    M("A1", "FAILED never set", NET_DEVICE, "    transport_->set_status(VIRTIO_CONFIG_S_FAILED);", "",
      "unit-faults", "BringUpFaultTest.DeviceRefusingFeaturesOkFailsConnectClearly"),
    M("A2", "MQ kept without CTRL_VQ", FEATURES,
      "    chosen &= ~(feature_bit(VIRTIO_NET_F_MQ) | feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE) |",
      "    chosen &= ~(feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE) |",
      "unit-faults", "BringUpFaultTest.MqWithoutCtrlVqIsNotNegotiated"),
    M("A2", "GUEST_ANNOUNCE kept without CTRL_VQ", FEATURES,
      "    chosen &= ~(feature_bit(VIRTIO_NET_F_MQ) | feature_bit(VIRTIO_NET_F_GUEST_ANNOUNCE) |",
      "    chosen &= ~(feature_bit(VIRTIO_NET_F_MQ) |",
      "unit-engine", "LinkStatusPrerequisiteTest.NoAnnouncementsWithoutAControlQueue"),
    M("A2", "segmentation kept without the checksum offload", FEATURES,
      "  if (!has_feature(chosen, VIRTIO_NET_F_CSUM))\n", "  if (false)\n",
      "unit-engine", "Rings/OffloadTest.SegmentationIsNotTakenWithoutTheChecksumOffload/0"),
    M("A2", "CTRL_GUEST_OFFLOADS kept without a receive offload", FEATURES,
      "  if (!has_feature(chosen, VIRTIO_NET_F_GUEST_CSUM)) chosen &= ~feature_bit(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);", "",
      "unit-engine", "Rings/OffloadTest.SegmentationIsNotTakenWithoutTheChecksumOffload/0"),
    M("A2", "CTRL_MAC_ADDR kept without CTRL_RX", FEATURES,
      "  if (!has_feature(chosen, VIRTIO_NET_F_CTRL_RX)) chosen &= ~feature_bit(VIRTIO_NET_F_CTRL_MAC_ADDR);", "",
      "unit-engine", "Rings/RxFilterTest.WithoutReceiveModesThereIsNoMacTableAndNoMacChange/0"),
    M("A2", "CTRL_VLAN taken unasked", FEATURES,
      "  if (request.vlan_filter) wanted |= feature_bit(VIRTIO_NET_F_CTRL_VLAN);",
      "  wanted |= feature_bit(VIRTIO_NET_F_CTRL_VLAN);",
      "unit-engine", "Rings/RxFilterTest.VlansAreFilteredOnlyWhenTheIdAsks/0"),
    M("A2", "RSS kept without MQ", FEATURES,
      "  if (!has_feature(chosen, VIRTIO_NET_F_MQ)) chosen &= ~feature_bit(VIRTIO_NET_F_RSS);", "",
      "unit-engine", "Rings/RssTest.RssIsNotTakenWithoutMultiQueue/0"),
    M("C9", "HASH_REPORT (a 20-byte header) taken unasked", FEATURES,
      "  if (request.hash_report) wanted |= feature_bit(VIRTIO_NET_F_HASH_REPORT);",
      "  wanted |= feature_bit(VIRTIO_NET_F_HASH_REPORT);",
      "unit-engine", "Rings/RssTest.WithoutTheIdsHashReportHeadersStayTwelveBytesAndFramesCarryNoHash/0"),
    M("C9", "a hash of a type the device does not support believed", OFFLOAD_HEADER,
      "  if (!supported.has(type)) return ReportedHash::Lie;\n", "",
      "unit-engine", "Rings/RssTest.AHashReportThatLiesDropsTheFrameAsTheDevicesError/0"),
    M("A6", "netfront's own MAC never told to the device", "drivers/virtio/net/device_filters.cpp",
      "if ((mac_set_ || !config_.mac_from_device) &&", "if (mac_set_ &&",
      "unit-engine", "Rings/RxFilterTest.WithoutADeviceMacTheDeviceIsToldNetfrontsMac/0"),
    M("C6", "a partial checksum outside the frame believed", OFFLOAD_HEADER, CHECKSUM_PLACE, "",
      "unit-engine", "Rings/OffloadTest.EveryHeaderADeviceWritesIsCheckedBeforeItIsBelieved/0"),
    M("C6", "a partial checksum outside the frame believed, as the fuzz target sees it", OFFLOAD_HEADER, CHECKSUM_PLACE, "",
      "fuzz-mergeable-rx", "mergeable-rx"),
    M("C9", "a hash report of an unsupported type believed, as the fuzz target sees it", OFFLOAD_HEADER,
      "  if (!supported.has(type)) return ReportedHash::Lie;\n", "", "fuzz-mergeable-rx", "mergeable-rx"),
    M("C9", "a frame's hash read from its first bytes, not from after its header", "drivers/virtio/net/rx_queue.hpp",
      "    std::memcpy(&h, posted_start(head) + sizeof(virtio_net_hdr), sizeof h);\n",
      "    std::memcpy(&h, posted_start(head) + header_len_, sizeof h);\n",
      "fuzz-mergeable-rx", "mergeable-rx"),
    M("C7", "a segmented frame believed, as the fuzz target sees it", OFFLOAD_HEADER, NO_GSO, "",
      "fuzz-mergeable-rx", "mergeable-rx"),
    M("C6", "a merged frame's partial checksum checked against its first buffer", "drivers/virtio/net/rx_queue.hpp",
      "    if (frame_left_ > 0) {\n      partial_ = m;\n      partial_header_ = hdr;\n      return;\n    }\n",
      "    if (frame_left_ > 0) {\n      if (header_fields_ && !take_header_fields(m, hdr, to)) return;\n      partial_ = m;\n"
      "      partial_header_ = {};\n      return;\n    }\n",
      "unit-engine", "Rings/OffloadTest.AMergedFrameIsCheckedWhole/0"),
    M("C7", "a segmented frame accepted though no receive segmentation is negotiated", OFFLOAD_HEADER, NO_GSO, "",
      "unit-engine", "Rings/OffloadTest.EveryHeaderADeviceWritesIsCheckedBeforeItIsBelieved/0"),
    M("E1", "a checksum left to the device not asked of it (NEEDS_CSUM), as testpmd's vhost port sees it",
      OFFLOAD_HEADER, "    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;\n",
      "    h.flags = o.gso == Gso::None ? 0 : VIRTIO_NET_HDR_F_NEEDS_CSUM;\n",
      "integration-vhost-user", "VhostUserTest.SegmentationRequestsReachTheBackendWholeWithTheirChecksumsCompleted"),
    M("E1", "a TCP/IPv6 super-frame sent without its segmentation request, as testpmd's vhost port sees it",
      OFFLOAD_HEADER, "    case Gso::Tcp6: h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; break;\n", "    case Gso::Tcp6: return h;\n",
      "integration-vhost-user", "VhostUserTest.SegmentationRequestsReachTheBackendWholeWithTheirChecksumsCompleted"),
    M("E1", "a transmit checksum position beyond the frame passed on", "drivers/netif/offload_check.cpp",
      "    if (std::size_t{o.checksum.start} + o.checksum.offset + 2 > length)\n", "    if (false)\n",
      "unit-engine", "Rings/OffloadTest.RequestsOutsideTheFrameOrTheAgreementAreRefusedAndNothingIsSent/0"),
    M("E1", "segments beyond the MTU asked of the device", "drivers/netif/offload_check.cpp",
      "  if (headers + o.segment_size > max_frame)\n", "  if (false)\n",
      "unit-engine", "Rings/OffloadTest.RequestsOutsideTheFrameOrTheAgreementAreRefusedAndNothingIsSent/0"),
    M("A5", "a speed outside the spec believed", "drivers/virtio/net/net_config.cpp",
      "  if (speed <= 0x7fffffff)\n", "  if (speed != VIRTIO_NET_SPEED_UNKNOWN)\n",
      "unit-engine", "SplitAndPacked/LinkStatusTest.ASpeedOrDuplexOutsideTheSpecIsNotKnown/split"),
    M("D5", "an announcement request answered at every status check", "drivers/virtio/net/device_recovery.cpp",
      "const bool announce = now.announce && !announce_answered_;", "const bool announce = now.announce;",
      "unit-engine", "SplitAndPacked/LinkStatusTest.ARequestThatIsNeverClearedIsAnsweredOnce/split"),
    M("A3", "a device without VERSION_1 accepted over the modern interface", FEATURES,
      "if (!has_feature(offered, VIRTIO_F_VERSION_1))", "if (false)",
      "unit-faults", "BringUpFaultTest.ModernInterfaceWithoutVersion1IsRefused"),
    M("A3", "a legacy device told FEATURES_OK", BRING_UP, "  if (!t.legacy()) {\n", "  if (true) {\n",
      "unit-engine", "LegacyDevice.IsBroughtUpWithoutFeaturesOk"),
    M("A3", "a legacy device without ANY_LAYOUT accepted", FEATURES,
      "    if (!has_feature(offered, VIRTIO_F_ANY_LAYOUT))\n", "    if (false)\n",
      "unit-engine", "LegacyDevice.WithoutAnyLayoutIsRefused"),
    M("C2", "a legacy header without num_buffers taken as 12 bytes", FEATURES,
      "    return static_cast<std::uint16_t>(offsetof(virtio_net_hdr, num_buffers));",
      "    return sizeof(virtio_net_hdr);",
      "unit-engine", "LegacyDevice.FramesTheDeviceWritesArriveWholeWithEitherHeaderLength"),
    M("A10", "a legacy device given a ring outside the legacy layout", "drivers/virtio/transport/legacy_ring.hpp",
      "a.desc % ring::kLegacyRingAlign != 0 || a.driver != a.desc + layout.avail_offset || a.device != a.desc + layout.used_offset",
      "false", "unit-pci", "LegacyPciTransport.ARingIsGivenAsItsPageNumberOnlyInTheLegacyLayout"),
    M("A1", "receive buffers notified before DRIVER_OK", QUEUE_PAIR, "rx_.refill(/*notify=*/false);", "rx_.refill();",
      "unit-engine", "AllFeatureCombinations/EngineTest.NoDoorbellRingsBeforeDriverOk/split_mrg_rxbuf_off_event_idx_off_in_order_off_indirect_off"),
    M("A12", "bus mastering a previous driver left on kept through the first reset", PCI,
      "set_command_bits(*t->function_, kPciCommandMemory, kPciCommandBusMaster)",
      "set_command_bits(*t->function_, kPciCommandMemory, 0)",
      "unit-pci", "VirtioPciTransport.OpeningTurnsOffBusMasteringAPreviousDriverLeftOnBeforeTheReset"),
    M("A10", "a legacy virtio-mmio queue set up over one in use", MMIO,
      "  if (regs_.read32(kQueuePfn) != 0) return", "  if (false) return",
      "unit-pci", "MmioTransport.VersionOneQueueAlreadyInUseIsNotSetUpOver"),
    M("A11", "virtio-mmio queues counted before the features", MMIO,
      "void MmioTransport::set_driver_features(std::uint64_t features) {\n  queues_.forget_count();\n",
      "void MmioTransport::set_driver_features(std::uint64_t features) {\n",
      "unit-pci", "MmioTransport.QueuesTheDeviceHasOnceMultiqueueIsNegotiatedAreCountedAndCanBeSetUp"),
    M("A9", "a transitional function's malformed capabilities taken for a legacy-only device",
      "drivers/virtio/transport/pci/open_transport.cpp", " || !modern.error().is(TransportError::Unsupported)", "",
      "unit-pci", "OpenVirtioPci.MalformedModernCapabilitiesOfATransitionalFunctionAreReportedNotFallenBackFrom"),
    M("A10", "a virtio-mmio queue set up over one in use", MMIO, "    if (regs_.read32(kQueueReady) != 0)", "    if (false)",
      "unit-pci", "MmioTransport.VersionTwoQueuesTakeTheirAddressesAndReadyAndOnlyThenADoorbell"),
    M("A11", "a virtio-mmio queue size beyond the spec accepted", MMIO, "if (max > ring::kMaxQueueSize) {", "if (false) {",
      "unit-pci", "MmioTransport.QueueSizesBeyondTheSpecAreUnavailableAndAStuckResetIsBounded"),
    M("A9", "a virtio-mmio window taken without checking it holds a virtio-net device", MMIO,
      "  if (type != kNetDeviceId)\n", "  if (false)\n", "unit-pci", "MmioTransport.AWindowThatIsNoVirtioNetDeviceIsAClearError"),
    M("A11", "a legacy queue of a size no split ring has", BRING_UP, "    if (!std::has_single_bit(max))\n", "    if (false)\n",
      "unit-engine", "LegacyDevice.AQueueSizeASplitRingCannotHaveIsAClearError"),
    M("A3", "ACCESS_PLATFORM not required behind an IOMMU", FEATURES,
      "if (!has_feature(offered, VIRTIO_F_ACCESS_PLATFORM))", "if (false)",
      "unit-faults", "BringUpFaultTest.DeviceWithoutAccessPlatformBehindAnIommuIsRefused"),
    M("A4", "max_virtqueue_pairs not clamped", CONFIG, "std::min<std::uint16_t>(pairs, 0x8000)", "pairs",
      "unit-faults", "BringUpFaultTest.MaxVirtqueuePairsOutOfRangeIsClampedAndRespected"),
    M("A4", "control queue index in 16 bits", SPEC, "return 2u * (has_feature(features, VIRTIO_NET_F_MQ) ? max_pairs : 1u);",
      "return static_cast<std::uint16_t>(2u * (has_feature(features, VIRTIO_NET_F_MQ) ? max_pairs : 1u));",
      "unit-faults", "BringUpFaultTest.MaxVirtqueuePairsOutOfRangeIsClampedAndRespected"),
    M("A5", "MTU range not checked", CONFIG, "if (mtu < kMinMtu || mtu > kMaxMtu)", "if (false)",
      "unit-faults", "BringUpFaultTest.InvalidMtuIsReplacedAndJumboMtuIsHonoured"),
    M("A6", "device MAC taken unchecked", CONFIG, "has_feature(features, VIRTIO_NET_F_MAC) && c.mac.valid_unicast()",
      "has_feature(features, VIRTIO_NET_F_MAC)",
      "unit-faults", "BringUpFaultTest.ZeroOrMulticastMacBecomesARandomLocalUnicastMac"),
    M("A8", "generation change not retried", CONFIG, "if (t.config_generation() == before) return Ok{};", "return Ok{};",
      "unit-faults", "BringUpFaultTest.UnsettledConfigGenerationFailsConnectClearly"),
    M("A9", "capability outside its BAR accepted", CAPS, "if (std::uint64_t{r.offset} + r.length > bar_size)", "if (false)",
      "fuzz-pci-capabilities", "pci-capabilities"),
    M("A9", "misaligned capability accepted", CAPS, "if (r.offset % required_alignment(type) != 0)", "if (false)",
      "fuzz-pci-capabilities", "pci-capabilities"),
    M("A9", "last capability of a type wins", CAPS, "if (slot->has_value()) continue;", "",
      "fuzz-pci-capabilities", "pci-capabilities"),
    M("A9", "capability list loop not detected", "drivers/virtio/transport/pci/capability_list.cpp", "    if (seen.test(at)) {",
      "    if (false) {",
      "unit-pci", "VirtioCapabilities.LoopingListIsAnError"),
    M("A10", "doorbell outside the notify area accepted", PCI, "if (at + 2 > layout_.notify.length)", "if (false)",
      "unit-pci", "VirtioPciTransport.DoorbellOutsideTheNotifyAreaFailsQueueSetUp"),
    M("A11", "queue size beyond the spec accepted", PCI, "if (size > kMaxQueueSize) {", "if (false) {",
      "unit-pci", "VirtioPciTransport.QueueSizesOfZeroOrBeyondTheSpecAreUnavailable"),
    M("A12", "reset not waited for", "drivers/virtio/transport/device_reset.hpp",
      "if (std::chrono::steady_clock::now() > deadline) {", "if (true) {",
      "unit-pci", "VirtioPciTransport.ResetNeverCompletedFailsAfterItsBoundAndIsNotWaitedForAgain"),
    M("A12", "memory freed after an unconfirmed reset", NET_DEVICE, "abandoned_ = !transport_->revoke_dma();",
      "abandoned_ = false;", "unit-faults",
      "SplitAndPacked/AbandonedDeviceTest.DeviceThatCannotBeCutOffKeepsItsRingsAndBuffersForGood/split"),
    M("A13", "DEVICE_NEEDS_RESET ignored", RECOVERY, "(transport_->status() & VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET)",
      "false", "unit-faults", "*DeviceNeedsResetIsRecoveredAndTrafficResumes*"),
    # B. rings
    M("B1", "used id range not checked", CORE, "    if (id >= size_) {", "    if (false) {",
      "unit-faults", "*UsedIdOutOfRangeMarksQueueBroken*"),
    M("B2", "used id not checked against what is in flight", CORE, "    if (!inflight_.outstanding(id)) {", "    if (false) {",
      "unit-faults", "*DoubleCompletionMarksQueueBroken*"),
    M("B3", "used index jump not checked", SPLIT, "if (ready > inflight_.count()) {", "if (false) {",
      "unit-faults", "*UsedIndexJumpOrBadPackedFlagsMarkQueueBroken*"),
    M("B5", "inconsistent packed flags accepted", PACKED,
      "if (static_cast<bool>(flags & VIRTQ_DESC_F_AVAIL) != used_wrap_) {", "if (false) {",
      "unit-faults", "*UsedIndexJumpOrBadPackedFlagsMarkQueueBroken*"),
    M("B6", "in-order batch longer than the window accepted", CORE, "if (batch == 0 || batch > limit) {", "if (batch == 0) {",
      "unit-faults", "InOrderFaultTest.BatchLongerThanTheUsedIndexMovedMarksQueueBroken"),
    M("B9", "failed doorbell ignored", TX_QUEUE,
      "if (!transport_.notify(queue_)) ring_.mark_broken(ring::RingError::NotifyFailed);",
      "(void)transport_.notify(queue_);",
      "unit-faults", "*FailedDoorbellMarksQueueBroken*"),
    # C. received content
    M("C1", "receive length beyond what was posted accepted", RX_QUEUE,
      "    if (!u.len_valid || u.len > posted_len_) {\n      drop(m, u.len_valid ? DropReason::Device : DropReason::Other, to.counters);\n      return;\n    }\n    // C2",
      "    if (!u.len_valid) {\n      drop(m, DropReason::Other, to.counters);\n      return;\n    }\n    // C2",
      "unit-faults", "*ReceiveLengthBeyondPostedIsDroppedAndCounted/split_mrg_rxbuf_off"),
    M("C1", "frame beyond MTU + 14 delivered", RX_QUEUE, " || u.len > header_len_ + max_frame_) [[unlikely]] {",
      ") [[unlikely]] {", "fuzz-mergeable-rx", "mergeable-rx"),
    M("C1", "merged frame beyond MTU + 14 delivered", RX_QUEUE,
      "if (partial_->data_len + u.len > max_frame_ || u.len > rte_pktmbuf_tailroom(partial_)) {",
      "if (u.len > rte_pktmbuf_tailroom(partial_)) {", "unit-faults", "*MergedFrameBeyondTheMtuIsDroppedWhole*"),
    M("C2", "runt frame delivered", RX_QUEUE, "  if (m->data_len < kEthernetHeaderLength) {", "  if (false) {",
      "unit-faults", "*ShortReceiveIsDroppedAndCounted*"),
    M("C4", "num_buffers 0 or beyond the ring believed", RX_QUEUE,
      "if (hdr.num_buffers == 0 || hdr.num_buffers > ring_.size()) {", "if (hdr.num_buffers == 0) {",
      "unit-faults", "*NumBuffersBeyondTheRingMarksQueueBroken*"),
    M("C4", "first buffer without a header believed", RX_QUEUE, "if (u.len_valid && u.len < header_len_) {",
      "if (false) {", "unit-faults", "*FirstBufferShorterThanTheHeaderMarksQueueBroken*"),
    M("C4", "a dropped frame's followers read as frames", RX_QUEUE,
      "    if (!partial_) {\n      runtime::free_segment(m);\n      return;\n    }",
      "    if (!partial_) {\n      frame_left_ = 0;\n      take_merged_head(m, u, to);\n      return;\n    }",
      "fuzz-mergeable-rx", "mergeable-rx"),
    M("C5", "merged frame data shifted by 2 bytes", RX_QUEUE,
      "    m->data_off = RTE_PKTMBUF_HEADROOM;\n    m->data_len = static_cast<std::uint16_t>(data);",
      "    m->data_off = RTE_PKTMBUF_HEADROOM + 2;\n    m->data_len = static_cast<std::uint16_t>(data);",
      "fuzz-mergeable-rx", "mergeable-rx"),
    M("C5", "merged copies 5 bytes off", RX_QUEUE,
      "rte_pktmbuf_mtod_offset(partial_, std::byte*, partial_->data_len), posted_start(m), u.len);",
      "rte_pktmbuf_mtod_offset(partial_, std::byte*, partial_->data_len), posted_start(m) + 5, u.len);",
      "fuzz-mergeable-rx", "mergeable-rx"),
    # D. control queue
    M("D1", "control command waited for forever", CONTROL, "if (std::chrono::steady_clock::now() > deadline) {",
      "if (false) {", "unit-faults", "ControlQueueFaultTest.CommandNeverAnsweredFailsConnectWithinTheBound"),
    M("D2", "ack not checked", CONTROL, "if (ack != VIRTIO_NET_OK) return", "if (false) return",
      "unit-faults", "ControlQueueFaultTest.AckThatIsNeitherOkNorErrIsNotTakenAsSuccess"),
    M("D2", "a refused receive mode taken as set", "drivers/virtio/net/device_filters.cpp",
      "  if (auto r = send_rx_mode(*control_, mode, on); !r) {\n    after_control_failure();\n"
      "    return ready(runtime::to_api(std::move(r)));\n  }",
      "  (void)send_rx_mode(*control_, mode, on);",
      "unit-engine", "Rings/RxFilterTest.ARefusedCommandChangesNothing/0"),
    M("D2", "filters not sent again after a reset", BRING_UP,
      "  if (auto r = restore_filters(); !r) return r;\n", "",
      "unit-engine", "Rings/RxFilterTest.TheFiltersComeBackAfterADeviceReset/0"),
    M("D2", "a refused RSS configuration taken as set", "drivers/virtio/net/device_rss.cpp",
      "  if (auto r = send_rss_config(c); !r) {\n    after_control_failure();\n",
      "  if (auto r = send_rss_config(c); false) {\n    after_control_failure();\n",
      "unit-engine", "Rings/RssTest.ARefusedConfigurationLeavesWhatTheDeviceHolds/0"),
    M("D2", "RSS limits not read again after a reset", RECOVERY, "  config_.rss = c->rss;\n", "",
      "unit-engine", "Rings/RssTest.AConfigurationBeyondTheLimitsADeviceComesBackWithGivesWayToTheDefault/0"),
    M("C9", "hash types changed across a reset believed", RECOVERY,
      "  if (has_feature(features_, VIRTIO_NET_F_HASH_REPORT) && c->rss.supported != config_.rss.supported)\n",
      "  if (false)\n", "unit-engine", "Rings/RssTest.HashTypesChangedAcrossAResetFailTheDevice/0"),
    M("C9", "hash types checked across a reset only where the first ones were usable", RECOVERY,
      "  if (has_feature(features_, VIRTIO_NET_F_HASH_REPORT) && c->rss.supported != config_.rss.supported)\n",
      "  if (config_.rss.hash_report && c->rss.supported != config_.rss.supported)\n",
      "unit-engine", "Rings/RssTest.HashTypesAppearingAcrossAResetFailTheDevice/0"),
    M("D2", "RSS not sent again after a reset", BRING_UP,
      "  if (auto r = send_rss(); !r) return r;\n", "",
      "unit-engine", "Rings/RssTest.TheApplicationsConfigurationComesBackAfterADeviceReset/0"),
    M("D1", "a command answered late left to change the device behind rx_filter()", "drivers/virtio/net/virtio_net_device.cpp",
      "  reset_wanted_ = true;\n", "",
      "unit-engine", "Rings/RxFilterTest.ACommandAnsweredLateCostsAResetAndRxFilterStillSaysWhatHolds/0"),
    M("D2", "a filter refused after a reset fails the device", "drivers/virtio/net/device_filters.cpp",
      "  if (!why.is(DeviceError::Refused)) return false;", "  return false;",
      "unit-engine", "Rings/RxFilterTest.AFilterRefusedAfterAResetDoesNotCostTheDevice/0"),
    M("D4", "more pairs than the device has asked for", BRING_UP, "if (wanted > config_.max_queue_pairs)", "if (false)",
      "unit-faults", "ControlQueueFaultTest.PairsBeyondTheDeviceMaximumAreNeverAskedFor"),
    # E. our own posting and the API
    M("E1", "an indirection table that is not a power of two sent", "drivers/netif/rss_check.cpp",
      "if (n == 0 || n > longest || !std::has_single_bit(n))", "if (n == 0 || n > longest)",
      "unit-engine", "RssCheckTest.WhatTheSpecForbidsTheDriverIsRefusedBeforeItIsSent"),
    M("E1", "an indirection table naming pairs beyond the device's sent", "drivers/netif/rss_check.cpp",
      "[&](std::uint16_t pair) { return pair >= pairs; }", "[&](std::uint16_t) { return false; }",
      "unit-engine", "Rings/RssTest.BadConfigurationsAreRefusedAndNothingIsSent/0"),
    M("E1", "short frames written", NETIF, "&& length >= kEthernetHeaderLength &&", "&&",
      "unit-api", "NetifTest.WriteRefusesShortAndOversizeFramesBeforeTheDevice"),
    M("E1", "frames beyond MTU + 14 written", NETIF, "&&\n         length <= state_->max_frame;", ";",
      "unit-api", "NetifTest.WriteRefusesShortAndOversizeFramesBeforeTheDevice"),
    M("E1", "too many pieces written", NETIF, "pieces - 1 < kMaxWritevPieces", "pieces >= 1",
      "unit-api", "NetifTest.WritevRefusesNoPiecesOrTooManyAndOversizeTotals"),
    M("E1", "empty pieces posted", NETIF, "  if (empty > 0) [[unlikely]]\n    return writev_without_empty(queue, pieces);\n", "",
      "unit-engine", "*WritevLeavesOutEmptyPieces*"),
    M("E1", "Buffer accessors unchecked", "include/netfront/buffer.hpp",
      "    if (off > len_ || n > len_ - off) out_of_range(off, n);", "    (void)off, (void)n;",
      "unit-api", "BufferTest.OutOfBoundsAccessThrowsAndNamesTheRange"),
    M("E2", "chain longer than the ring posted", QUEUE_PAIR, "if (pieces.size() + 1 > tx_.ring().size())", "if (false)",
      "unit-engine", "IndirectTest.AFrameLongerThanTheQueueSizeIsRefusedEvenWithIndirectTables"),
    M("E1", "a not connected Netif dereferenced", NETIF, "MacAddress Netif::mac() const noexcept { return state_ ? state_->device->mac() : MacAddress{}; }",
      "MacAddress Netif::mac() const noexcept { return state_->device->mac(); }",
      "unit-api", "NetifTest.NetifThatIsNotOrNoLongerConnectedAnswersEveryCallQuietly"),
    M("E1", "fill-style write of a size no frame has", NETIF,
      "size < kEthernetHeaderLength || size > state_->fill_limit) [[unlikely]]", "false) [[unlikely]]",
      "unit-api", "NetifTest.FillWriteRefusesSizesAndLengthsOutsideTheFrameBoundsAndSendsNothing"),
    M("E1", "fill's returned length taken unchecked", NETIF,
      "if (filled > size || filled > frame.length() || filled < kEthernetHeaderLength) [[unlikely]]",
      "if (filled > frame.length()) [[unlikely]]",
      "unit-api", "NetifTest.FillWriteRefusesSizesAndLengthsOutsideTheFrameBoundsAndSendsNothing"),
    M("E1", "fill's Netif taken as still there", NETIF,
      "if (!s || s->disconnected.load(std::memory_order_relaxed)) [[unlikely]]", "if (false) [[unlikely]]",
      "unit-api", "NetifTest.FillThatDisconnectsOrMovesItsNetifSendsNothing"),
    M("E1", "listen ~header_size takes longer frames", NETIF, " || frame.length() > l.max_length", "",
      "unit-api", "NetifTest.HeaderSizeListenTakesFramesUpToHeaderSizePlusMtuAndCountsLongerOnesAsDrops"),
    # F. vhost-user peer
    M("F2", "reply flags not checked", CHANNEL, "if (h.flags != (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK)) {", "if (false) {",
      "fuzz-vhost-user-reply", "vhost-user-reply"),
    M("F2", "reply request code not checked", CHANNEL, "if (h.request != request) return", "if (false) return",
      "fuzz-vhost-user-reply", "vhost-user-reply"),
    M("F2", "reply size not checked", CHANNEL, "if (h.size != out.size())", "if (false)",
      "fuzz-vhost-user-reply", "vhost-user-reply"),
    M("F2", "NACK taken for success", VHOST, "if (done && status != 0) done =", "if (false) done =",
      "unit-faults", "VhostUserPeerFaultTest.NackWithReplyAckFailsTheStep"),
    M("F2", "connection left open after a bad reply", VHOST, "  if (!done) lost_backend(done.error().message(), done.error().is(TransportError::NoAnswer));\n  return done;\n}\n\nResult<> VhostUserTransport::call",
      "  return done;\n}\n\nResult<> VhostUserTransport::call", "unit-faults", "VhostUserPeerFaultTest.ReplyOutOfStepClosesTheConnection"),
    M("F2", "unasked bytes left in the socket", VHOST, "case Channel::Unasked::Bytes: return lost_backend(\"it sent bytes nobody asked for\");",
      "case Channel::Unasked::Bytes: return;", "unit-faults", "VhostUserPeerFaultTest.UnsolicitedBytesCloseTheConnection"),
    M("F3", "reply waited for forever", CHANNEL, "static_cast<int>(std::max<long long>(0, left.count()))", "-1",
      "unit-faults", "VhostUserPeerFaultTest.BackendThatNeverAnswersTimesOut"),
    M("F4", "stray file descriptors kept", CHANNEL, "        ::close(unexpected);", "",
      "unit-faults", "VhostUserPeerFaultTest.UnexpectedFileDescriptorsAreClosed"),
    M("F5", "another feature set accepted after a reset", BRING_UP, "if (features_ != 0 && *chosen != features_)", "if (false)",
      "unit-faults", "*DeviceBackFromResetWithOtherFeaturesIsFailed*"),
    M("F5", "control queue left where it was after a reconnect", RECOVERY,
      "if (c->max_queue_pairs == config_.max_queue_pairs) return Ok{};", "return Ok{};",
      "unit-faults", "VhostUserPeerFaultTest.BackendBackWithMoreQueuePairsNeverGetsOurControlRing"),
    M("F3", "silent backends dialled at the usual pace", VHOST,
      "  return period * (1u << unanswered_);", "  return period;",
      "unit-faults", "VhostUserReconnectTest.SilentBackendsAreDialledLessAndLessOftenUntilOneAnswers"),
    M("F3", "the wait never starts over once a backend answered", VHOST,
      "  if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && channel_.open()) unanswered_ = 0;", "",
      "unit-faults", "VhostUserReconnectTest.SilentBackendsAreDialledLessAndLessOftenUntilOneAnswers"),
    M("F8", "a kick eventfd kept across connections", VHOST,
      "  if (kick_fds_[s.index] >= 0) ::close(kick_fds_[s.index]);\n  kick_fds_[s.index] = kick;",
      "  if (kick_fds_[s.index] < 0) kick_fds_[s.index] = kick; else ::close(kick);",
      "unit-faults", "VhostUserReconnectTest.ABackendOfAnEarlierConnectionHearsNoDoorbellOfTheNext"),
    M("E5", "rings of an unconfirmed vhost-user stop reused", VHOST, "  return !stop_unconfirmed_;", "  return true;",
      "unit-faults", "AbandonedDeviceVhostUserTest.RingStopNeverConfirmedKeepsItsRingsAndBuffers"),
    M("F1", "a watch destroyed mid-round still called", "runtime/event_loop.cpp",
      "      if (round->events[i].data.ptr == this) round->events[i].data.ptr = &gone_watch;", "      (void)round;",
      "unit-runtime", "EventLoopTest.AWatchDestroyedEarlierInARoundIsNotCalled"),
    M("F10", "stalled transmit waited for", TX_WATCHDOG, "if (now - last_progress_ < limit) return Verdict::Waiting;",
      "return Verdict::Waiting;",
      "unit-faults", "TransmitWatchdogTest.StalledDeviceFailsWaitingWritesThenTrafficResumes"),
    M("F10", "a device waiting for a doorbell never reminded", QUEUE_PAIR,
      "      tx_.notify();\n      if (!tx_.ring().broken()) counters_.tx_renotified.add(1);", "      counters_.tx_renotified.add(1);",
      "unit-faults", "TransmitWatchdogTest.DeviceWaitingForADoorbellItNeverAskedForIsRemindedAndNothingIsLost"),
    M("lwip", "a partial checksum handed to lwIP unfinished", "runtime/lwip/netif_glue.cpp",
      "  complete_rx_checksum(frame);\n", "",
      "unit-lwip", "LwipNetifChecksumTest.APartialChecksumFromTheDeviceIsFinishedBeforeLwipChecksIt"),
    M("F10", "a pair on a sleeping loop of its own never watched", "drivers/virtio/net/pair_poller.cpp",
      "  watchdog_->arm_periodic(", "  if (false) watchdog_->arm_periodic(",
      "unit-faults", "VhostUserPeerFaultTest.AStalledPairOnASleepingLoopOfItsOwnFailsItsWaitingWriters"),
    M("F10", "a ring the device broke reminded", QUEUE_PAIR,
      "    if (!usable_ || tx_.ring().broken() || rx_.ring().broken() || now - last_reminder_", "    if (!usable_ || now - last_reminder_",
      "unit-faults", "TransmitWatchdogTest.ARingTheDeviceBrokeIsNotReminded"),
    M("F10", "a device waiting for a receive doorbell never reminded", QUEUE_PAIR,
      "      rx_.notify_posted();\n      rx_reminded_ = true;", "      rx_reminded_ = true;",
      "unit-faults", "TransmitWatchdogTest.DeviceWaitingForAReceiveDoorbellIsRemindedAndNothingIsLost"),
    # device-visible memory
    M("memory", "data rooms in DPDK's memory, beside the headers", "runtime/mbuf_pool.cpp",
      "  made.pool = make_headers(name, spec, spec.socket);",
      "  made.pool = rte_pktmbuf_pool_create(name.c_str(), spec.count, spec.cache, 0, spec.room, spec.socket);\n  return made;",
      "unit-faults", "DeviceMemoryTest.TheDeviceIsGivenRingsAndDataRoomsAndNothingElse"),
    M("memory", "a frame outside device memory posted", QUEUE_PAIR,
      "    if (!runtime::DeviceMemory::holds(frame.data(), frame.length())) return make_ready_io(WriteResult(not_device_memory()));\n",
      "",
      "unit-faults", "DeviceMemoryTest.AFrameOutsideDeviceMemoryIsRefusedAndTheRingGoesOn"),
    M("memory", "a clone taken for its room's owner", "runtime/mbuf_pool.hpp",
      "return s->free_cb == &return_pinned_room && s->fcb_opaque == m;",
      "return s->free_cb == &return_pinned_room;",
      "unit-faults", "DeviceMemoryTest.ClonesCountReferencesOutsideDeviceMemory"),
    M("memory", "a clone vouches for its pool", TX_QUEUE,
      "(frame.mbuf()->ol_flags & (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT)) == RTE_MBUF_F_EXTERNAL &&\n"
      "        runtime::owns_pinned_room(frame.mbuf(), frame.mbuf()->shinfo)) {", "true) {",
      "unit-faults", "DeviceMemoryTest.AClonedFrameDoesNotVouchForItsPool"),
    M("memory", "a jumbo MTU's receive pool of 8191 rooms, beyond a small guest's device memory", BRING_UP,
      "const unsigned mbufs = std::max(budget, 4u * rx_entries + tx_entries - 1);",
      "const unsigned mbufs = std::max(8191u, 4u * rx_entries + tx_entries - 1);",
      "unit-faults", "BringUpFaultTest.AJumboMtusReceivePoolIsSizedToTheRingsNotToEightThousandRooms"),
    M("memory", "a jumbo MTU's pool without room for fill-written frames on the transmit rings", BRING_UP,
      "const unsigned mbufs = std::max(budget, 4u * rx_entries + tx_entries - 1);",
      "const unsigned mbufs = std::max(budget, 4u * rx_entries - 1);",
      "unit-faults", "BringUpFaultTest.AJumboMtusPoolHoldsFillWrittenFramesForEveryTransmitEntry"),
    M("A9", "an I/O BAR known by its size alone (VFIO gives it its real one)", CAPS,
      " || (c.u32(kPciBar0 + 4 * bar) & kPciBarIoSpace)", "",
      "unit-pci", "VirtioCapabilities.AnIoBarIsPassedOverWhateverSizeItIsGiven"),
    M("A9", "a structure in an I/O BAR fails the device instead of being passed over", CAPS,
      "      continue;\n    }\n    if (type == CfgType::Notify) {",
      "      return Fault(TransportError::ProtocolViolation, passed_over);\n    }\n    if (type == CfgType::Notify) {",
      "unit-pci", "VirtioCapabilities.AStructureInANonMemoryBarIsPassedOverForALaterOne"),
    M("memory", "a room a clone still views given back", "runtime/mbuf_pool.hpp",
      " && rte_mbuf_ext_refcnt_read(s) == 1) [[likely]]", ") [[likely]]",
      "unit-faults", "DeviceMemoryTest.ClonesCountReferencesOutsideDeviceMemory"),
]


TEST_TIMEOUT = 90   # a test that has not ended by then hangs: the check it needs is gone
FUZZ_RUNS = 20000   # mutated inputs per fuzz run: the same ones on every machine


def run(cmd, cwd, timeout, env=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           env=env)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return "timeout", ""


def judge(m, scratch, env):
    """'passed', 'failed' (an assertion of the named test, or the fuzz oracle), 'crashed'
    (a sanitizer report or a signal before the test could report), 'hung', or 'ran nothing'."""
    folder = next((f for f in ("fuzz", "integration") if m.target.startswith(f + "-")), "unit")
    exe = os.path.join(scratch, "build", "test", folder, m.target)
    if m.target.startswith("fuzz-"):
        code, out = run([exe, os.path.join(scratch, "test", "fuzz", "corpus", m.test), "--runs", str(FUZZ_RUNS)], scratch,
                        TEST_TIMEOUT, env)
        if code == "timeout":
            return "hung"
        return "passed" if code == 0 and "no failure" in out else "failed"
    xml = os.path.join(scratch, "mutate-result.xml")
    if os.path.exists(xml):
        os.remove(xml)
    code, out = run([exe, "--gtest_filter=" + m.test, "--gtest_output=xml:" + xml], scratch, TEST_TIMEOUT, env)
    if code == "timeout":
        return "hung"
    if not os.path.exists(xml):
        return "crashed" if code != 0 else "ran nothing"
    import xml.etree.ElementTree as ET
    cases = [c for c in ET.parse(xml).getroot().iter("testcase") if c.get("status") == "run"]
    if not cases:
        return "ran nothing"
    if any(c.find("failure") is not None for c in cases):
        return "failed"
    return "passed" if code == 0 else "crashed"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated rows to run (A1,C4,...)")
    ap.add_argument("--list", action="store_true", help="print the mutations and exit")
    ap.add_argument("--markdown", help="also write the result table to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch tree")
    ap.add_argument("--check", action="store_true",
                    help="only check that every patch still applies to the tree (no build)")
    args = ap.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.row in args.only.split(",")]
    if args.list:
        for m in chosen:
            print(f"{m.row}\t{m.what}\t{m.file}\t{m.target} {m.test}")
        return 0
    if args.check:
        # A renamed member or a rewrapped line silently turns a mutation into "patch does not
        # apply"; the suite runs this so that such a change fails where it is made.
        stale = [m for m in chosen if open(os.path.join(ROOT, m.file)).read().count(m.old) != 1]
        for m in stale:
            print(f"{m.row} {m.what}: the patched text is not in {m.file} exactly once")
        print(f"{len(chosen) - len(stale)} of {len(chosen)} patches apply")
        return 1 if stale else 0

    scratch = tempfile.mkdtemp(prefix="netfront-mutate-")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for f in (x.decode() for x in files if x):
        src, dst = os.path.join(ROOT, f), os.path.join(scratch, f)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:halt_on_error=1", UBSAN_OPTIONS="halt_on_error=1",
               NETFRONT_LOG="off")
    code, out = run(["meson", "setup", "build", "-Db_sanitize=address,undefined", "-Db_lto=false", "-Dwerror=false",
                     "-Dbuildtype=debug"], scratch, 600)
    if code != 0:
        print(out)
        return 2

    def build(target):
        return run(["ninja", "-C", "build", target.replace("unit-", "test/unit/unit-").replace("fuzz-", "test/fuzz/fuzz-")],
                   scratch, 1800)

    # Unpatched, every test must pass: a test that fails anyway proves nothing.
    baseline_failed = []
    for target, test in sorted({(m.target, m.test) for m in chosen}):
        code, out = build(target)
        if code != 0:
            print(out[-3000:])
            return 2
        verdict = judge(Mutation("", "", "", "", "", target, test), scratch, env)
        if verdict != "passed":
            baseline_failed.append(f"{target} {test}: {verdict}")
    if baseline_failed:
        print("these tests fail without any patch:\n  " + "\n  ".join(baseline_failed))
        return 2

    rows, bad = [], 0
    for m in chosen:
        path = os.path.join(scratch, m.file)
        original = open(path).read()
        if original.count(m.old) != 1:
            rows.append((m, "patch does not apply"))
            bad += 1
            continue
        with open(path, "w") as f:
            f.write(original.replace(m.old, m.new))
        code, out = build(m.target)
        if code != 0:
            verdict = "build failed"
            bad += 1
        else:
            # Caught: the test failed, crashed under the sanitizers or hung past its own bound.
            result = judge(m, scratch, env)
            verdict = {"failed": "caught", "crashed": "caught (crash)", "hung": "caught (hang)",
                       "passed": "missed", "ran nothing": "ran nothing"}[result]
            bad += not verdict.startswith("caught")
        with open(path, "w") as f:
            f.write(original)
        rows.append((m, verdict))
        print(f"{m.row:7} {verdict:8} {m.what}", flush=True)

    table = ["| row | patch (the check it disables) | test that must fail | result |", "|---|---|---|---|"]
    for m, verdict in rows:
        test = m.test if not m.target.startswith("fuzz-") else f"{m.target} (seeds + {FUZZ_RUNS} mutated inputs)"
        table.append(f"| {m.row} | {m.what} (`{m.file}`) | `{test}` | {verdict} |")
    caught = sum(v.startswith("caught") for _, v in rows)
    table.append("")
    table.append(f"{caught} of {len(rows)} mutations caught.")
    print("\n".join(table))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(table) + "\n")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
