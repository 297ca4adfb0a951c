#!/bin/bash
# netfront as others take it: `meson install` into a scratch directory, then test/install/
# example.cpp (the README's usage example, checked to be the same text) built outside the tree
# against what was installed and nothing else, with pkg-config, linked to the shared and to
# the static library, and run on the loop: device.
set -euo pipefail
src=$1 build=$2
scratch=$(mktemp -d /tmp/netfront-test-install.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The README shows the program as it is.
python3 - "$src/README.md" "$src/test/install/example.cpp" <<'PY' || fail "README's usage example differs from test/install/example.cpp"
import re, sys
readme, example = (open(p).read() for p in sys.argv[1:])
section = readme.split('## Using it', 1)[1]
block = re.search(r'```cpp\n(.*?)```', section, re.S).group(1)
sys.exit(block != example)
PY

# As a user runs it: meson install first builds what is not built yet (the shared library,
# which no other test needs).
meson install -C "$build" --destdir "$scratch/root" --quiet >/dev/null
pc=$(find "$scratch/root" -name netfront.pc)
[ -n "$pc" ] || fail "meson install put no netfront.pc"
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH=$(dirname "$pc")  # netfront.pc is relocatable: its prefix is where it lies

# What is installed: the public headers alone, and both libraries.
includedir=$(pkg-config --variable=includedir netfront)
[ "$(ls "$includedir")" = netfront ] || fail "more than include/netfront/ installed: $(ls "$includedir")"
if grep -rn '#include "\(runtime\|drivers\|tools\)/' "$includedir/netfront"; then
  fail "an installed header includes an internal one"
fi
[ -f "$libdir/libnetfront.a" ] || fail "no static library in $libdir"
[ -L "$libdir/libnetfront.so" ] || fail "no shared library in $libdir"
requires=$(pkg-config --print-requires netfront)
private=$(pkg-config --print-requires-private netfront)
for dep in libdpdk; do grep -qw "$dep" <<<"$requires" || fail "netfront.pc does not require $dep"; done
for dep in numa spdlog; do grep -qw "$dep" <<<"$private" || fail "netfront.pc does not require $dep (private)"; done

# Built where nothing of the source tree can be reached.
cp "$src/test/install/example.cpp" "$scratch/app.cpp"
cd "$scratch"
g++ -std=c++20 -O2 -c app.cpp -o app.o $(pkg-config --cflags netfront)
g++ app.o -o app-shared $(pkg-config --libs netfront)
# The static library with what netfront.pc names for it (the libraries below it stay shared).
g++ app.o -o app-static "$libdir/libnetfront.a" $(pkg-config --libs $(printf '%s\n%s\n' "$requires" "$private" | awk '{print $1}')) -pthread

LD_LIBRARY_PATH=$libdir ldd ./app-shared | grep -q "$libdir/libnetfront.so" || fail "app-shared does not load the installed libnetfront.so"
for app in app-shared app-static; do
  echo "--- $app"
  LD_LIBRARY_PATH=$libdir "./$app" || fail "$app failed"
done
echo "PASS"
