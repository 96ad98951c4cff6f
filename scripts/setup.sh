#!/usr/bin/env bash
# Installs every Debian 12 package protoclr needs (idempotent, non-interactive) and builds
# Release into build/. Usage: scripts/setup.sh [--no-build] [--with-python]
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
python=0
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --with-python) python=1 ;;
    *) echo "setup.sh: unknown option '$a' (use --no-build, --with-python)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config
  libtorch-dev libfaiss-dev libopenblas-dev liblinear-dev libgloo-dev
  libopencv-imgproc-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libtiff-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  dataset-fashion-mnist
)
# PyTorch itself is only needed by the interop tests and the side-by-side benchmarks.
if [ "$python" = 1 ]; then packages+=(python3-torch python3-torchvision python3-faiss python3-numpy); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "$build" = 1 ]; then
  jobs=${JOBS:-$(nproc)}
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$jobs" --target protoclr
fi
