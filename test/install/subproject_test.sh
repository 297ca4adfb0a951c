#!/bin/bash
# netfront as a meson subproject: a parent project that says only dependency('netfront'), with
# netfront under subprojects/ and a wrap file that provides it, builds test/install/example.cpp
# and runs it on the loop: device.
set -euo pipefail
src=$1
scratch=$(mktemp -d /tmp/netfront-test-subproject.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
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
# force_fallback_for: a netfront installed on the machine must not be what is found.
# Unoptimised and without LTO, to keep the test short; warnings stay errors in netfront.
meson setup build -Dforce_fallback_for=netfront -Dbuildtype=plain -Db_lto=false
ninja -C build app
./build/app
echo "PASS"
