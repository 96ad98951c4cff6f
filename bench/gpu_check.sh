#!/usr/bin/env bash
# The GPU check of issue 13, in one invocation on a machine with one CUDA GPU: builds protoclr
# against the machine's CUDA LibTorch, runs every CUDA test, times protoclr's training step
# (settled img/s with ProtoNCE on) and the published step beside it (gpu_anchor.py), and one
# E-step at paper scale. Prints the table of docs/BENCHMARKS.md ("GPU") and writes every
# figure as a JSON line to OUT/gpu_check.jsonl. Budget: under 8 minutes on one H200.
#
# Usage: bench/gpu_check.sh [-d DATA] [-o OUT] [-k DEBS] [-a ANCHOR] [-s STEPS]
#   DATA    an ImageFolder root (class folders of images; the first 10,000 images are used) or
#           a .tar/.tar.gz of one; default ../shared/datasets/cifar10/train
#   OUT     results folder (default $OUT, else runs/gpu_check)
#   DEBS    Debian packages from ../shared/gpu/fetch-debs.sh, unpacked into /opt/deps first,
#           for a machine that has a CUDA PyTorch but none of protoclr's other libraries
#           (through ../shared/gpu/device-setup.sh, or DEVICE_SETUP=its copy)
#   ANCHOR  gpu_anchor.py (default ../shared/bench/gpu_anchor.py; skipped when absent)
#   STEPS   training steps timed per configuration (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/datasets/cifar10/train out=${OUT:-runs/gpu_check} debs="" anchor=../shared/bench/gpu_anchor.py steps=40
while getopts "d:o:k:a:s:" opt; do
  case $opt in
    d) data=$OPTARG ;; o) out=$OPTARG ;; k) debs=$OPTARG ;; a) anchor=$OPTARG ;; s) steps=$OPTARG ;;
    *) sed -n "2,18p" "$0"; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(realpath "$out")
results=$out/gpu_check.jsonl
: > "$results"
start=$SECONDS
stamp() { echo "# [$((SECONDS - start)) s] $*"; }
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

# 1. Build against python3's CUDA LibTorch.
stamp "build"
if [ -n "$debs" ]; then
  # ../shared/gpu/device-setup.sh (copy it in when ../shared does not travel): unpacks into
  # /opt/deps and sets PROTOCLR_CMAKE_FLAGS and LD_LIBRARY_PATH.
  setup=${DEVICE_SETUP:-../shared/gpu/device-setup.sh}
  [ -f "$setup" ] || { echo "gpu_check.sh: -k needs $setup (set DEVICE_SETUP to its copy)"; exit 1; }
  eval "$(bash "$setup" "$debs")"
fi
read -r -a extra <<< "${PROTOCLR_CMAKE_FLAGS:-}"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DPROTOCLR_BUILD_TESTS=ON -DPROTOCLR_BUILD_BENCH=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix" "${extra[@]}" > "$out/cmake.log" 2>&1 \
  || { tail -30 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" > "$out/build.log" 2>&1 || { grep -m5 -B2 -A8 "error" "$out/build.log"; exit 1; }
build-gpu/protoclr --version | tee "$out/version.txt"

# 2. Every CUDA test (their names say Cuda; they skip without a GPU, so count the skips).
stamp "CUDA tests"
(cd build-gpu && ctest -R Cuda --output-on-failure -j4) 2>&1 | tee "$out/ctest_cuda.log" | tail -15
grep -q "100% tests passed" "$out/ctest_cuda.log" || { echo "gpu_check.sh: CUDA tests failed"; exit 1; }
if grep -q "Skipped" "$out/ctest_cuda.log"; then echo "gpu_check.sh: CUDA tests were skipped: no GPU visible"; exit 1; fi

# 3. Data: 10,000 images in an ImageFolder.
if [ -f "$data" ]; then
  mkdir -p "$out/data" && tar -xf "$data" -C "$out/data"
  data=$(dirname "$(find "$out/data" -mindepth 2 -type f | head -1)")/..
fi
[ -d "$data" ] || { echo "gpu_check.sh: $data not found: give -d DIR (an ImageFolder) or -d FILE.tar"; exit 1; }

# 4. protoclr's step: settled img/s of the second epoch (ProtoNCE on, after one E-step).
train() {  # name arch size cifar_stem(0/1) bf16(0/1)
  local name=$1 arch=$2 size=$3 stem=$4 bf16=$5 dir=$out/train-$1
  stamp "train $name"
  rm -rf "$dir"
  build-gpu/protoclr train --data "$data" --limit 10000 --preset pcl-v2 --device cuda --arch "$arch" \
    $([ "$stem" = 1 ] && echo --cifar-stem) --image-size "$size" --batch-size 256 --epochs 2 --warmup-epochs 1 \
    --num-clusters 100,200,500 --neg-prototypes 1024 --queue-size 1024 --max-steps "$steps" --knn-every 0 \
    --save-every 0 --workers "$(nproc)" --threads "$(nproc)" $([ "$bf16" = 1 ] && echo --bf16) --out "$dir" \
    > "$dir.log" 2>&1 || { tail -5 "$dir.log"; echo "gpu_check.sh: training $name failed"; exit 1; }
  python3 - "$dir/metrics.jsonl" "$name" >> "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
e = [r for r in rows if r.get("epoch") == 2][0]
print(json.dumps({"figure": "protoclr_train", "config": sys.argv[2], "settled_img_per_s": e["settled_img_per_s"],
                  "estep_seconds": e.get("estep_seconds"), "kmeans_seconds": e.get("kmeans_seconds")}))
EOF
}
train resnet50-224-fp32 resnet50 224 0 0
train resnet50-224-bf16 resnet50 224 0 1
train resnet18-32-fp32 resnet18 32 1 0
train resnet18-32-bf16 resnet18 32 1 1

# 5. The published step and the floor, same machine, same sitting.
if [ -f "$anchor" ]; then
  stamp "gpu_anchor.py"
  python3 "$anchor" all 2>&1 | tee "$out/anchor.log" | grep '^{' >> "$results" || echo "gpu_check.sh: gpu_anchor.py failed (see $out/anchor.log)"
else
  echo "gpu_check.sh: $anchor not found: the published-step column stays empty (copy ../shared/bench/gpu_anchor.py in, or -a)"
fi

# 6. One E-step at paper scale: k-means + phi, N = 1.28M synthetic unit vectors, d = 128.
stamp "E-step at N = 1.28M"
build-gpu/bench_estep --estep --device cuda --backend torch >> "$results" 2> "$out/estep.log" \
  || { tail -5 "$out/estep.log"; echo "gpu_check.sh: the E-step bench failed"; }

stamp "done"
python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = {r["config"]: r["settled_img_per_s"] for r in rows if r.get("figure") == "protoclr_train"}
print("\n| | protoclr fp32 | protoclr bf16 |\n|---|---|---|")
for arch, label in (("resnet50-224", "ResNet-50, 224 px"), ("resnet18-32", "ResNet-18 CIFAR stem, 32 px")):
    print(f"| {label} | {mine.get(arch + '-fp32', float('nan')):,.0f} | {mine.get(arch + '-bf16', float('nan')):,.0f} |")
print("\nOther figures (gpu_anchor.py, E-step), one JSON line each:")
for r in rows:
    if r.get("figure") != "protoclr_train":
        print(json.dumps(r))
EOF
