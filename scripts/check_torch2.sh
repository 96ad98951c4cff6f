#!/usr/bin/env bash
# Compile check against LibTorch 2.x (issue 13) on a machine that has only Debian's 1.13:
# every translation unit of src/, cli/, tests/ and bench/ through `-fsyntax-only` with
# the headers of PyTorch 2.11.0+cu130 (../shared/torch-headers, no libraries) in place of
# Debian's, and the project's other include paths and flags as CMake gives them. Prints one
# line per failing file with its first error and exits 1 on any; deprecation warnings in the
# project's own code count as errors. Skips (exit 0) when the headers are absent.
# Usage: scripts/check_torch2.sh [PATH...]   only the units under these paths (e.g. src/run)
#   env: PROTOCLR_TORCH2_HEADERS (the tarball), JOBS (2), CHECK_CXX (clang++ if installed, else g++)
# <torch/torch.h> is precompiled once. Every unit still instantiates the templates the header's
# inline code uses: ~8 s of CPU a unit with g++ ("phase lang. deferred" of -ftime-report),
# ~20 min of CPU for the tree, ~10 min on 2 cores; ~2.6 s with clang++ and its
# -fpch-instantiate-templates (clang's -ftime-trace: PerformPendingInstantiations), ~11 min
# of CPU, under 6 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tarball=${PROTOCLR_TORCH2_HEADERS:-../shared/torch-headers/torch-2.11-headers.tar.xz}
out=$root/build-torch2
jobs=${JOBS:-2}
cxx=${CHECK_CXX:-$(command -v clang++ || command -v g++)}
if [ ! -f "$tarball" ]; then
  echo "check_torch2: skipped: no LibTorch 2.x headers at $tarball (../shared missing?; set PROTOCLR_TORCH2_HEADERS)"
  exit 0
fi
start=$SECONDS

# 1. The headers, unpacked again only when the tarball is newer than the last unpacking.
if [ ! -f "$out/.unpacked" ] || [ "$tarball" -nt "$out/.unpacked" ]; then
  rm -rf "$out/include" "$out/share" "$out/pch"
  mkdir -p "$out"
  tar -xJf "$tarball" -C "$out"
  touch "$out/.unpacked"
fi
version=$(sed -n 's/^#define TORCH_VERSION_MAJOR \([0-9]*\)$/\1/p; s/^#define TORCH_VERSION_MINOR \([0-9]*\)$/.\1/p' \
  "$out/include/torch/headeronly/version.h" "$out/include/torch/csrc/api/include/torch/version.h" 2>/dev/null | tr -d '\n' || true)

# 2. The compile commands of a normal configure (Debian's LibTorch, no precompiled header).
if ! cmake -S . -B "$out/configure" -DCMAKE_BUILD_TYPE=Release -DPROTOCLR_BUILD_TESTS=ON -DPROTOCLR_BUILD_BENCH=ON \
    -DPROTOCLR_PCH=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$out/configure.log" 2>&1; then
  cat "$out/configure.log" >&2
  echo "check_torch2: cmake configure failed" >&2
  exit 1
fi

# 3. Rewritten for 2.x: Debian's torch include path and torch/glog definitions out, the
# tarball's headers and the definitions its exported targets carry (Caffe2Targets.cmake:
# USE_DISTRIBUTED, USE_C10D_NCCL, ...) in, strict C++17, and the new C++ ABI that pip's
# torch uses. Its headers are -isystem, as CMake makes them, so only our code warns.
defines=$(grep -ho 'INTERFACE_COMPILE_DEFINITIONS "[A-Za-z0-9_;]*"' "$out/share/cmake/Caffe2/Caffe2Targets.cmake" |
  sed 's/.*"\(.*\)"/\1/' | tr ';' '\n' | sort -u | sed 's/^/-D/' | tr '\n' ' ')
torch_flags="-isystem $out/include -isystem $out/include/torch/csrc/api/include $defines-D_GLIBCXX_USE_CXX11_ABI=1"
# Two precompiled headers ("@" below): torch.h for src/, cli/ and bench/, tests.h (the same
# and GoogleTest, ~1.5 s of each test unit) for tests/.
if [[ $(basename "$cxx") == clang* ]]; then
  pch_build="-fpch-instantiate-templates -x c++-header $out/pch/@.h -o $out/pch/@.h.pch"
  pch_use="-include-pch $out/pch/@.h.pch"
else
  pch_build="-x c++-header $out/pch/@.h -o $out/pch/@.h.gch"
  pch_use="-include $out/pch/@.h -Winvalid-pch"
fi
rm -rf "$out/tu" "$out/pch"
mkdir -p "$out/tu" "$out/pch"
echo '#include <torch/torch.h>' >"$out/pch/torch.h"
printf '#include <torch/torch.h>\n#include <gtest/gtest.h>\n' >"$out/pch/tests.h"
cat >"$out/rewrite.cmake" <<'EOF'
# cmake -P: compile_commands.json -> one shell script per translation unit under tu/, and
# pch/<kind>.sh (the flags of the kind's first unit, compiling its precompiled header).
file(READ "${OUT}/configure/compile_commands.json" db)
string(JSON count LENGTH "${db}")
math(EXPR last "${count} - 1")
set(n 0)
foreach(i RANGE ${last})
  string(JSON src GET "${db}" ${i} file)
  if(NOT src MATCHES "^${ROOT}/(src|cli|tests|bench)/")
    continue()
  endif()
  string(JSON dir GET "${db}" ${i} directory)
  string(JSON cmd GET "${db}" ${i} command)
  string(REGEX REPLACE " -o [^ ]+" "" cmd "${cmd}")
  string(REGEX REPLACE " -c [^ ]+$" "" cmd "${cmd}")
  string(REGEX REPLACE " -(I|isystem )[^ ]*/torch/csrc/api/include" "" cmd "${cmd}")
  string(REGEX REPLACE " -D(USE_[A-Z0-9_]+|GFLAGS_IS_A_DLL=[0-9]|GLOG_CUSTOM_PREFIX_SUPPORT)" "" cmd "${cmd}")
  string(REGEX REPLACE " -include [^ ]*cmake_pch[^ ]*| -Winvalid-pch" "" cmd "${cmd}")
  string(REPLACE "-std=gnu++17" "-std=c++17" cmd "${cmd}")
  string(REGEX REPLACE "^[^ ]+" "${CXX} ${TORCH_FLAGS}" cmd "${cmd}")
  file(RELATIVE_PATH rel "${ROOT}" "${src}")
  set(kind torch)
  if(rel MATCHES "^tests/")
    set(kind tests)
  endif()
  string(REPLACE "@" "${kind}" build "${PCH_BUILD}")
  string(REPLACE "@" "${kind}" use "${PCH_USE}")
  if(NOT EXISTS "${OUT}/pch/${kind}.sh")
    file(WRITE "${OUT}/pch/${kind}.sh" "cd ${dir} && ${cmd} -H ${build}\n")
  endif()
  file(WRITE "${OUT}/tu/${n}.sh" "# ${rel}\ncd ${dir} && ${cmd} -Werror=deprecated-declarations ${use} -H -fsyntax-only ${src}\n")
  math(EXPR n "${n} + 1")
endforeach()
EOF
cmake -DOUT="$out" -DROOT="$root" -DCXX="$cxx" -DTORCH_FLAGS="$torch_flags" -DPCH_BUILD="$pch_build" \
  -DPCH_USE="$pch_use" -P "$out/rewrite.cmake"
if [ $# -gt 0 ]; then  # keep the units under the given paths
  for script in "$out"/tu/*.sh; do
    file=$(sed -n '1s/^# //p' "$script") keep=0
    for path in "$@"; do [[ $file == "${path%/}"* ]] && keep=1; done
    [ "$keep" = 1 ] || rm "$script"
  done
fi
units=$(ls "$out/tu" | wc -l)
[ "$units" -gt 0 ] || { echo "check_torch2: no translation unit under $*" >&2; exit 2; }

# Headers that came from Debian's LibTorch (/usr/include/{ATen,c10,torch,caffe2}) rather than
# the tarball: a header 2.x no longer has, found by the fallback to the system directory.
debian_headers() { grep -E '^\.+ /usr/include/(ATen|c10|caffe2|torch)/' "$1" | head -1 | sed 's/^\.* //' || true; }

# 4. The precompiled headers the units use, side by side, then every unit on $jobs cores.
kinds=()
for kind in torch tests; do grep -q "pch/$kind\.h" "$out"/tu/*.sh && kinds+=("$kind"); done
for kind in "${kinds[@]}"; do bash "$out/pch/$kind.sh" >"$out/pch/$kind.log" 2>&1 & done
wait
pch_failed=0
for kind in "${kinds[@]}"; do
  if ! ls "$out/pch/$kind".h.?ch >/dev/null 2>&1; then
    echo "check_torch2: FAIL precompiled $kind.h: $(grep -m1 -E ': (fatal )?error: ' "$out/pch/$kind.log")"
    pch_failed=1
  fi
  leak=$(debian_headers "$out/pch/$kind.log")
  if [ -n "$leak" ]; then echo "check_torch2: FAIL <torch/torch.h> includes Debian's $leak"; pch_failed=1; fi
done
[ "$pch_failed" = 0 ] || exit 1

check_unit() {
  local script=$1 log=${1%.sh}.log file leak
  file=$(sed -n '1s/^# //p' "$script")
  if ! bash "$script" >"$log" 2>&1; then
    echo "FAIL $file: $(grep -m1 -E ': (fatal )?error: ' "$log" || tail -1 "$log")"
    return 0
  fi
  leak=$(debian_headers "$log")
  if [ -n "$leak" ]; then echo "FAIL $file: includes Debian's $leak, which LibTorch 2.x lacks"; fi
  # g++ -H marks a precompiled header it used with "! " (clang++ stops at one it cannot use).
  if [[ $pch_kind == gch ]] && ! grep -q '^! .*/pch/.*\.h\.gch' "$log"; then
    echo "SLOW $file: the precompiled header was not used ($(grep -m1 'gch' "$log"))"
  fi
  return 0
}
pch_kind=${pch_build##*.}
export pch_kind
export -f check_unit debian_headers
results=$(ls "$out"/tu/*.sh | xargs -P"$jobs" -n1 bash -c 'check_unit "$1"' _)
elapsed=$((SECONDS - start))
time_text="$((elapsed / 60))m$((elapsed % 60))s"
[ -z "$results" ] || echo "$results" | sed 's/^/check_torch2: /' | sort
failed=$(grep -c '^FAIL' <<<"$results" || true)
if [ "$failed" -gt 0 ]; then
  echo "check_torch2: $failed of $units translation units fail against LibTorch $version headers ($time_text; logs in $out/tu/)"
  exit 1
fi
echo "check_torch2: $units translation units compile against LibTorch $version headers ($(basename "$cxx"), $time_text)"
