#!/usr/bin/env bash
# Installs what is missing, configures the build directory once, and builds: everything, or
# only the targets named (tools/build.sh netfront-echo builds the library and that program).
# NETFRONT_BUILD names the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
build=${NETFRONT_BUILD:-build}
if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" -Dlwip=enabled >/dev/null  # setup.sh installed lwIP: its absence is an error
fi
# Regenerated first if meson.build changed since: a target added since is found by name then.
ninja -C "$build" build.ninja >/dev/null
meson compile -C "$build" "$@" >/dev/null
