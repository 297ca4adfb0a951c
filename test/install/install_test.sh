#!/bin/bash
# netfront as others take it, from one scratch build of it (unoptimised, without LTO, to keep
# the test short; warnings stay errors in netfront):
# - as a meson subproject: a parent project that says only dependency('netfront'), with
#   netfront under subprojects/ and a wrap file that provides it, builds test/install/
#   example.cpp (the README's usage example, checked to be the same text);
# - installed: `meson install` of that build into a scratch directory, then the example built
#   outside any meson project against what was installed and nothing else, with pkg-config,
#   linked to the shared and to the static library.
# Every program is run on the loop: device.
set -euo pipefail
src=$1
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

echo "--- as a subproject"
mkdir -p "$scratch/parent/subprojects"
ln -s "$src" "$scratch/parent/subprojects/netfront"
cp "$src/test/install/example.cpp" "$scratch/parent/app.cpp"
cat >"$scratch/parent/subprojects/netfront.wrap" <<WRAP
[wrap-git]
url = $src
revision = HEAD

[provide]
dependency_names = netfront
WRAP
cat >"$scratch/parent/meson.build" <<'MESON'
project('parent', 'cpp', default_options : ['cpp_std=c++20'])
executable('app', 'app.cpp', dependencies : dependency('netfront'))
MESON
cd "$scratch/parent"
# force_fallback_for: a netfront installed on the machine must not be what is found. A
# subproject's pkgconfig.relocatable is the parent's to set: set here as netfront sets it for
# its own build (checked below), so that what is installed is what netfront's install gives.
meson setup build -Dforce_fallback_for=netfront -Dbuildtype=plain -Db_lto=false -Dpkgconfig.relocatable=true >/dev/null
ninja -C build app >/dev/null
./build/app || fail "the subproject's program failed"

echo "--- installed"
# Builds what the parent did not need yet (the shared library) and installs netfront's files.
meson install -C build --destdir "$scratch/root" --quiet >/dev/null
pc=$(find "$scratch/root" -name netfront.pc)
[ -n "$pc" ] || fail "meson install put no netfront.pc"
libdir=$(dirname "$(dirname "$pc")")
meson introspect --buildoptions "$src/meson.build" | python3 -c '
import json, sys
sys.exit(not any(o["name"] == "pkgconfig.relocatable" and o["value"] for o in json.load(sys.stdin)))' ||
  fail "netfront's own build does not make netfront.pc relocatable"
export PKG_CONFIG_PATH=$(dirname "$pc")  # netfront.pc is relocatable: its prefix is where it lies
case $(pkg-config --variable=prefix netfront) in
  "$scratch/root"/*) ;;
  *) fail "netfront.pc does not find its prefix from where it lies: $(pkg-config --variable=prefix netfront)" ;;
esac

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
mkdir "$scratch/outside"
cp "$src/test/install/example.cpp" "$scratch/outside/app.cpp"
cd "$scratch/outside"
g++ -std=c++20 -O2 -c app.cpp -o app.o $(pkg-config --cflags netfront)
g++ app.o -o app-shared $(pkg-config --libs netfront)
# The static library with what netfront.pc names for it (the libraries below it stay shared).
g++ app.o -o app-static "$libdir/libnetfront.a" $(pkg-config --libs $(printf '%s\n%s\n' "$requires" "$private" | awk '{print $1}')) -pthread

# ldd's output is taken whole first: grep -q stops reading at its match, and under pipefail
# the SIGPIPE that may then end ldd would fail the check.
libs=$(LD_LIBRARY_PATH=$libdir ldd ./app-shared)
grep -q "$libdir/libnetfront.so" <<<"$libs" || fail "app-shared does not load the installed libnetfront.so"
for app in app-shared app-static; do
  echo "--- $app"
  LD_LIBRARY_PATH=$libdir "./$app" || fail "$app failed"
done
echo "PASS"
