#!/usr/bin/env bash
# Builds protoclr with its GoogleTest suite (Release, build/), checks that every source file
# compiles against LibTorch 2.x headers (scripts/check_torch2.sh; PROTOCLR_CHECK_TORCH2=0
# skips it) and runs the suite through ctest.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -R Loader
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
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
