#!/usr/bin/env bash
# Builds protoclr with its GoogleTest suite (Release, build/), checks that every source file
# compiles against LibTorch 2.x headers (scripts/check_torch2.sh; PROTOCLR_CHECK_TORCH2=0
# skips it) and runs the suite through ctest.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -R Loader
#        scripts/test.sh --sanitize [--areas data,interop,...] [ctest args...]
#          builds build-sanitize/ with AddressSanitizer and UndefinedBehaviorSanitizer
#          (-O1 -g) and runs the suite there, or only the named areas' tests (tests/<area>/).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}

if [ "${1:-}" = --sanitize ]; then
  shift
  areas=""
  if [ "${1:-}" = --areas ]; then
    areas=${2:?--areas needs a list such as data,interop,cluster,loss}
    shift 2
  fi
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DPROTOCLR_BUILD_TESTS=ON -DPROTOCLR_BUILD_BENCH=OFF -DPROTOCLR_SANITIZE=ON
  targets=()
  filter=()
  if [ -n "$areas" ]; then
    targets=(--target)
    for area in ${areas//,/ }; do targets+=("test_$area"); done
  fi
  cmake --build build-sanitize -j"$jobs" "${targets[@]}"
  # Leak reports are off: LibTorch and OpenBLAS keep process-lifetime allocations that
  # LeakSanitizer reports. Memory errors and undefined behaviour abort the test that hit them.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:detect_odr_violation=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  cd build-sanitize
  if [ -n "$areas" ]; then filter=(-L "^(${areas//,/|})\$"); fi  # tests carry their area as a label
  time ctest --output-on-failure -j"$jobs" "${filter[@]}" "$@"
  exit $?
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPROTOCLR_BUILD_TESTS=ON
cmake --build build -j"$jobs"
torch2=0
if [ "${PROTOCLR_CHECK_TORCH2:-1}" = 0 ]; then
  echo "test.sh: LibTorch 2.x compile check skipped (PROTOCLR_CHECK_TORCH2=0)"
else
  JOBS=$jobs scripts/check_torch2.sh || torch2=$?
fi
cd build
ctest --output-on-failure -j"$jobs" "$@"
exit "$torch2"
