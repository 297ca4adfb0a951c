#!/usr/bin/env python3
"""Writes the appliance's initramfs: a gzip'd cpio (newc) archive whose /init is one program,
plus exactly the files it needs: the shared libraries ldd names for it and for the DPDK
plugins it loads, and kernel modules. No shell, no busybox. Device nodes are written into the
archive directly, so building needs no root and no mknod.

usage: mkinitramfs.py --init PROGRAM --output FILE [--module KO ...] [--plugin-dir DIR --plugin SO ...]
"""
import argparse
import gzip
import os
import re
import subprocess
import sys


class Cpio:
    def __init__(self):
        self.parts = []
        self.inode = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_bytes = name.encode() + b"\0"
        fields = [self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_bytes), 0]
        self.inode += 1
        header = b"070701" + b"".join(b"%08x" % f for f in fields)
        self.parts.append(header + name_bytes)
        self._pad()
        self.parts.append(data)
        self._pad()

    def _pad(self):
        size = sum(len(p) for p in self.parts)
        self.parts.append(b"\0" * (-size % 4))

    def directory(self, path):
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.directory(os.path.dirname(path))
        self.dirs.add(path)
        self._entry(path, 0o040755)

    def file(self, path, data, mode=0o100644):
        self.directory(os.path.dirname(path.strip("/")))
        self._entry(path.strip("/"), mode, data)

    def symlink(self, path, target):
        self.directory(os.path.dirname(path.strip("/")))
        self._entry(path.strip("/"), 0o120777, target.encode())

    def char_device(self, path, major, minor):
        self.directory(os.path.dirname(path.strip("/")))
        self._entry(path.strip("/"), 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return b"".join(self.parts)


def shared_libraries(binary):
    """Paths of the libraries the dynamic loader would map for `binary`, loader included."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def stripped(path):
    """The file's bytes without debug information (the image carries no symbols)."""
    result = subprocess.run(["objcopy", "--strip-debug", path, "/dev/stdout"], capture_output=True)
    if result.returncode == 0 and result.stdout:
        return result.stdout
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--module", action="append", default=[])
    ap.add_argument("--plugin-dir", default="")
    ap.add_argument("--plugin", action="append", default=[])
    args = ap.parse_args()

    archive = Cpio()
    archive._entry(".", 0o040755)  # the root's own mode: DPDK refuses a world-writable path to its plugins
    for d in ["dev", "proc", "sys", "run", "tmp", "lib/modules"]:
        archive.directory(d)
    archive.char_device("dev/console", 5, 1)
    archive.char_device("dev/null", 1, 3)
    archive.file("init", stripped(args.init), 0o100755)

    libraries = set(shared_libraries(args.init))
    for plugin in args.plugin:
        libraries.update(shared_libraries(plugin))
        # EAL loads every .so in its plugin directory; the image's directory holds only these.
        archive.file(os.path.join(args.plugin_dir, os.path.basename(plugin).split(".so")[0] + ".so"), stripped(plugin))
    for lib in sorted(libraries):
        archive.file(lib, stripped(os.path.realpath(lib)), 0o100755)
    for module in args.module:
        with open(module, "rb") as f:
            archive.file("lib/modules/" + os.path.basename(module), f.read())

    with gzip.open(args.output, "wb", compresslevel=9) as out:
        out.write(archive.finish())
    print(f"initramfs: {args.output}: {os.path.getsize(args.output)} bytes, {len(libraries)} libraries, "
          f"{len(args.module)} modules")


if __name__ == "__main__":
    sys.exit(main())
