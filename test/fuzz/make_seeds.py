#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (test/fuzz/corpus/<target>/): a few well-formed
inputs per target, so mutations start from the shapes a real device or backend produces.
Run again after changing an input format; the files are small and kept in the repository."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# PCI: QEMU's virtio-net-pci configuration space, then BAR size exponents (BAR1 4 KiB, BAR4 16 KiB).
def pci_config(caps, status=0x10):
    c = bytearray(256)
    struct.pack_into("<HH", c, 0, 0x1AF4, 0x1041)
    struct.pack_into("<H", c, 6, status)
    at, prev = 0x40, None
    for cap in caps:
        if prev is None:
            c[0x34] = at
        else:
            c[prev + 1] = at
        c[at:at + len(cap)] = cap
        prev, at = at, at + ((len(cap) + 3) & ~3)
    return bytes(c)


def vendor_cap(cfg_type, bar, offset, length, extra=b""):
    body = struct.pack("<BBBBBBHII", 0x09, 0, 16 + len(extra), cfg_type, bar, 0, 0, offset, length) + extra
    return body


msix = bytes([0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
qemu = [msix, vendor_cap(1, 4, 0x0000, 0x1000), vendor_cap(3, 4, 0x1000, 0x1000), vendor_cap(4, 4, 0x2000, 0x1000),
        vendor_cap(2, 4, 0x3000, 0x1000, struct.pack("<I", 4))]
bars = bytes([0, 12, 0, 0, 14, 0])
write("pci-capabilities", "qemu-virtio-net", pci_config(qemu) + bars)
write("pci-capabilities", "legacy-only", pci_config([msix]) + bars)
write("pci-capabilities", "no-capability-list", pci_config([], status=0) + bars)

# Split used ring of 8: flags, idx, 8 x (id, len), avail_event.
def split_used(mode, entries, idx):
    ring = struct.pack("<HH", 0, idx)
    for i in range(8):
        ring += struct.pack("<II", *(entries[i] if i < len(entries) else (0, 0)))
    return bytes([mode]) + ring + struct.pack("<H", 0)


write("split-used-ring", "one-used", split_used(0x30, [(0, 8)], 1))
write("split-used-ring", "in-order-batch", split_used(0x72, [(2, 8)], 3))
write("split-used-ring", "indirect-event-idx", split_used(0x55, [(1, 16), (0, 8)], 2))

# Packed ring of 8: 8 x (addr, len, id, flags); used = AVAIL|USED with the first wrap counter.
def packed(mode, used):
    ring = b""
    for i in range(8):
        if i < len(used):
            ring += struct.pack("<QIHH", 0, used[i][1], used[i][0], 0x8080)
        else:
            ring += struct.pack("<QIHH", 0, 0, 0, 0)
    return bytes([mode]) + ring


write("packed-used-ring", "one-used", packed(0x30, [(0, 8)]))
write("packed-used-ring", "in-order", packed(0x72, [(2, 8)]))
write("packed-used-ring", "indirect", packed(0x55, [(0, 8), (1, 16)]))

# vhost-user replies: request, flags (version 1 | reply), size, payload.
for index, (name, request) in enumerate([("get-features", 1), ("get-protocol-features", 15), ("get-queue-num", 17),
                                         ("get-vring-base", 11), ("get-status", 40)]):
    payload = struct.pack("<Q", 0x1_4000_0000 if request == 1 else 1)
    # Byte 1: how the backend writes (bits 0-5 split point, bit 6 a stray fd attached).
    write("vhost-user-reply", name, bytes([index, 0]) + struct.pack("<III", request, 0x5, 8) + payload)
    write("vhost-user-reply", name + "-split-fd", bytes([index, 0x40 | 7]) + struct.pack("<III", request, 0x5, 8) + payload)

# Receive path: byte 0 = layout/features (1 packed, 2 mergeable, 4 event idx, 8 in order, 16 in-order
# batches), then
# one record per frame the device sends: (frame length, bytes per buffer / 16 or 0 for whole
# buffers, lie, seed); lies: 1 first length beyond posted, 2 a follower's, 3 first buffer
# shorter than the header, 4 num_buffers 0, 5 beyond the ring, 6 off by one, 7 garbage header.
def rx(mode, records):
    return bytes([mode]) + b"".join(struct.pack("<HBBH", *r) for r in records)


write("mergeable-rx", "split-one-frame", rx(0x02, [(60, 0, 0, 1)]))
write("mergeable-rx", "split-merged-small-buffers", rx(0x02, [(1000, 8, 0, 2), (64, 0, 0, 3), (1514, 4, 0, 4)]))
write("mergeable-rx", "packed-jumbo-between", rx(0x03, [(1514, 0, 0, 3), (9000, 0, 0, 5), (14, 0, 0, 4), (64, 2, 0, 6)]))
write("mergeable-rx", "no-mrg-in-order", rx(0x0c, [(1514, 0, 0, 6), (14, 0, 0, 7), (13, 0, 0, 8)]))
write("mergeable-rx", "packed-in-order-merged", rx(0x0b, [(1400, 0, 0, 9), (64, 0, 0, 10), (700, 4, 0, 11)]))
# Each lie once, the ones that stop everything last (first buffer without a header, num_buffers
# beyond the ring, num_buffers 0).
write("mergeable-rx", "lies", rx(0x06, [(100, 4, 1, 1), (500, 4, 2, 2), (60, 0, 7, 3), (60, 0, 6, 5), (60, 0, 0, 5),
                                       (300, 4, 6, 7), (60, 0, 3, 6)]))
write("mergeable-rx", "num-buffers-beyond-the-ring", rx(0x02, [(60, 0, 0, 1), (60, 0, 5, 2), (60, 0, 0, 3)]))
write("mergeable-rx", "num-buffers-zero", rx(0x03, [(60, 0, 0, 1), (60, 0, 4, 2), (60, 0, 0, 3)]))
# Long enough to wrap a 64-entry ring several times, frames of every size class.
write("mergeable-rx", "split-wraps", rx(0x06, [((i * 397) % 1600, i % 3 * 4, 0, i) for i in range(90)]))
write("mergeable-rx", "packed-wraps", rx(0x07, [((i * 211) % 1520, i % 2 * 8, 0, i) for i in range(90)]))
write("mergeable-rx", "in-order-batches", rx(0x1a, [(1514, 0, 0, 1), (64, 0, 0, 2), (900, 4, 0, 3), (60, 0, 0, 4)]))
write("mergeable-rx", "packed-in-order-batches", rx(0x1b, [(64, 0, 0, 1), (1400, 6, 0, 2), (128, 0, 0, 3)]))
# GUEST_CSUM (32): the lie byte's upper bits pick the offload fields (1 NEEDS_CSUM, 2 DATA_VALID,
# 4 an unknown flag, 8 a gso_type, 16 the checksum's place anywhere).
def offload(lie, pick):
    return lie | pick << 3
write("mergeable-rx", "checksums-merged", rx(0x22, [(1000, 8, offload(0, 1), 2), (64, 0, offload(0, 2), 3),
                                                   (1514, 4, offload(0, 1 | 16), 4), (300, 0, offload(0, 8), 5),
                                                   (60, 0, offload(0, 4 | 2), 6), (900, 4, offload(0, 1), 7)]))
write("mergeable-rx", "checksums-packed-plain", rx(0x21, [(1514, 0, offload(0, 1), 1), (60, 0, offload(0, 1 | 16), 2),
                                                         (128, 0, offload(7, 0), 3), (64, 0, offload(0, 8 | 1), 4)]))
write("mergeable-rx", "checksums-in-order-batches", rx(0x3b, [(64, 0, offload(0, 1), 1), (1400, 6, offload(0, 2), 2)]))
# HASH_REPORT (64): a 20-byte header; each frame's seed % 12 is its hash_report (0 NONE, 1-6
# supported, 7-9 not supported, 10-11 no type at all).
write("mergeable-rx", "hashes-merged", rx(0x42, [(1000, 8, 0, 12), (64, 0, 0, 13), (1514, 4, 0, 14), (300, 0, 0, 19),
                                                (60, 0, 0, 22), (900, 4, 0, 17), (128, 0, 6, 15)]))
write("mergeable-rx", "hashes-packed-plain-checksums", rx(0x61, [(1514, 0, offload(0, 1), 1), (60, 0, offload(0, 2), 24),
                                                                (128, 0, 3, 3), (64, 0, 0, 10)]))
write("mergeable-rx", "hashes-in-order-batches", rx(0x5b, [(64, 0, 0, 2), (1400, 6, 0, 5), (200, 0, 0, 9)]))
