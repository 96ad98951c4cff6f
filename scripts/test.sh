#!/usr/bin/env bash
# Builds protoclr with its GoogleTest suite (Release, build/) and runs it through ctest.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -R Loader
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPROTOCLR_BUILD_TESTS=ON
cmake --build build -j"$jobs"
cd build
ctest --output-on-failure -j"$jobs" "$@"
