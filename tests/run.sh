#!/usr/bin/env bash
# The one test command. Installs what is missing (Debian 12, apt), builds,
# runs the suite (unit tests, then integration tests against a real
# mosquitto and influxd that the harness starts on free loopback ports),
# then the system tier once (the compose and native installs on a real
# Docker engine and systemd: tests/system/), then builds again with clang,
# AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer targets,
# and runs the suite again with a short fuzz run. ctest's summary line ends
# the output.
#
#   HB_FUZZ_SECONDS=N   seconds per fuzz target (default 15)
#   HB_SKIP_ASAN=1      only the plain build (quicker, for development)
#   HB_SYSTEM_TESTS=0   skip the system tier (it says so)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

packages=(cmake make gcc clang pkg-config libclang-rt-14-dev
  libpaho-mqtt-dev libssl-dev libcurl4-openssl-dev libjansson-dev
  libsqlite3-dev libevent-dev zlib1g-dev nettle-dev
  mosquitto mosquitto-clients influxdb influxdb-client sqlite3 curl openssl
  chromium systemd python3-yaml victoria-metrics tmux jq go-md2man)
# the system tier's engine: Debian's dockerd, compose v1 behind a shim, and
# debootstrap for the base image
if [ "${HB_SYSTEM_TESTS:-1}" != 0 ]; then
  packages+=(docker.io docker-compose debootstrap)
fi

bash "$root/deploy/install-deps.sh" "${packages[@]}"

jobs=$(nproc 2>/dev/null || echo 2)
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi

echo "== build (gcc, RelWithDebInfo) =="
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHB_WERROR=$werror >/dev/null
cmake --build "$root/build" -j "$jobs"

system_tier() {
  if [ "${HB_SYSTEM_TESTS:-1}" = 0 ]; then
    echo "== system tier skipped (HB_SYSTEM_TESTS=0): the compose and native installs were not tried =="
    return 0
  fi
  echo "== system tier (a real Docker engine and systemd) =="
  ctest --test-dir "$root/build" -L system --output-on-failure
}

if [ "${HB_SKIP_ASAN:-}" = "1" ]; then
  ctest --test-dir "$root/build" -LE system --output-on-failure -j 2
  system_tier
  exit $?
fi

echo "== tests (plain build) =="
ctest --test-dir "$root/build" -LE system --output-on-failure -j 2 --progress

system_tier

echo "== build (clang, ASan + UBSan, libFuzzer targets) =="
CC=clang cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug \
  -DHB_SANITIZE=address,undefined -DHB_FUZZ=ON -DHB_WERROR=$werror >/dev/null
cmake --build "$root/build-asan" -j "$jobs"

echo "== tests (ASan + UBSan, with a short fuzz run) =="
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
ctest --test-dir "$root/build-asan" --output-on-failure -j 2 --progress
