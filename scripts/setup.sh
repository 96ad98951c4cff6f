#!/usr/bin/env bash
# Installs every Debian 12 package protoclr needs (idempotent, non-interactive) and builds
# Release into build/.
# Usage: scripts/setup.sh [--no-build] [--with-python] [--torch DIR|python] [--deps-prefix DIR]
#   --with-python    also what the tests use beyond the build: PyTorch (interop), Chromium (pages)
#   --torch DIR      build against this LibTorch (a libtorch/ folder, or a prefix holding
#                    Torch/TorchConfig.cmake such as torch.utils.cmake_prefix_path) instead
#                    of Debian's libtorch-dev, which is then not installed
#   --torch python   the LibTorch of python3's torch (a pip CUDA torch on a GPU machine)
#   --deps-prefix D  the other libraries are unpacked under D/usr (the GPU machines'
#                    /opt/deps, ../shared/gpu/device-setup.sh): installs nothing, links there
# PROTOCLR_CMAKE_FLAGS (e.g. from device-setup.sh) is passed to cmake last. A CUDA
# LibTorch needs the CUDA toolkit at configure time: nvcc on PATH (/usr/local/cuda/bin is
# added when it is not), or CUDA_PATH / CUDACXX set.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
python=0
torch=""
deps=""
usage="use --no-build, --with-python, --torch DIR|python, --deps-prefix DIR"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --with-python) python=1 ;;
    --torch|--deps-prefix)
      [ $# -ge 2 ] || { echo "setup.sh: $1 needs a value ($usage)" >&2; exit 2; }
      if [ "$1" = --torch ]; then torch=$2; else deps=$2; fi
      shift ;;
    *) echo "setup.sh: unknown option '$1' ($usage)" >&2; exit 2 ;;
  esac
  shift
done

# The CMake prefix of the LibTorch to build with ("" = Debian's, found by default).
torch_prefix=""
if [ "$torch" = python ]; then
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') ||
    { echo "setup.sh: --torch python: python3 cannot import torch" >&2; exit 1; }
elif [ -n "$torch" ]; then
  torch_prefix=$(cd "$torch" 2>/dev/null && pwd) || { echo "setup.sh: --torch: no folder '$torch'" >&2; exit 1; }
fi
torch_dir=""  # its TorchConfig.cmake's folder, passed as Torch_DIR so a cached one is replaced
for d in "$torch_prefix/share/cmake/Torch" "$torch_prefix/Torch"; do
  if [ -n "$torch_prefix" ] && [ -z "$torch_dir" ] && [ -f "$d/TorchConfig.cmake" ]; then torch_dir=$d; fi
done
if [ -n "$torch_prefix" ] && [ -z "$torch_dir" ]; then
  echo "setup.sh: --torch: no share/cmake/Torch/TorchConfig.cmake or Torch/TorchConfig.cmake under '$torch_prefix'" >&2
  exit 1
fi

packages=(
  build-essential cmake pkg-config
  libfaiss-dev libopenblas-dev liblinear-dev libgloo-dev
  libopencv-imgproc-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libtiff-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  clang  # scripts/check_torch2.sh: half the time of g++ (its precompiled header keeps the instantiations)
  dataset-fashion-mnist
)
[ -n "$torch_prefix" ] || packages+=(libtorch-dev)
# PyTorch itself is only needed by the interop tests and the side-by-side benchmarks.
if [ "$python" = 1 ]; then packages+=(python3-torch python3-torchvision python3-faiss python3-numpy); fi
# The browser test of the HTML pages (scripts/open_page.sh) opens them in Chromium; without
# it that test skips, so a mirror without chromium does not stop the set-up.
browser=0
[ "$python" = 1 ] && ! command -v chromium >/dev/null && browser=1

if [ -n "$deps" ]; then
  [ -d "$deps/usr" ] || { echo "setup.sh: --deps-prefix: no '$deps/usr' (unpack the .debs there first)" >&2; exit 1; }
  echo "setup.sh: using the libraries under $deps/usr; installing nothing"
else
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
  if [ "$browser" = 1 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium ||
      echo "setup.sh: chromium could not be installed; the browser test of the HTML pages will skip" >&2
  fi
fi

if [ "$build" = 1 ]; then
  jobs=${JOBS:-$(nproc)}
  prefix_path=$torch_prefix
  flags=()
  if [ -n "$deps" ]; then
    lib=$(cd "$deps" && pwd)/usr/lib/x86_64-linux-gnu
    prefix_path="${prefix_path:+$prefix_path;}$(cd "$deps" && pwd)/usr"
    flags+=("-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$lib:$lib/openblas-pthread")
    echo "setup.sh: to run the binaries: export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
  fi
  [ -z "$prefix_path" ] || flags+=("-DCMAKE_PREFIX_PATH=$prefix_path")
  [ -z "$torch_dir" ] || flags+=("-DTorch_DIR=$torch_dir")
  if [ -n "$torch_prefix" ] && ! command -v nvcc >/dev/null && [ -z "${CUDACXX:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH  # a CUDA LibTorch's TorchConfig.cmake looks for nvcc
  fi
  # shellcheck disable=SC2086  # PROTOCLR_CMAKE_FLAGS is a list of flags
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${flags[@]}" ${PROTOCLR_CMAKE_FLAGS:-}
  cmake --build build -j"$jobs" --target protoclr
fi
