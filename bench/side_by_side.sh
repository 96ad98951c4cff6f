#!/usr/bin/env bash
# Side by side with the published way of running PCL (../shared/bench), same machine, same
# sitting, the standard "cifar32" configuration of ../shared/bench/README.md.
# Usage: bench/side_by_side.sh [DATA] [--skip-reference]
# Needs: scripts/setup.sh --with-python (python3-torch, python3-torchvision, python3-faiss)
# and a build with the benchmarks (scripts/test.sh builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets/cifar10/train}
ref=../shared/bench
out=${BENCH_OUT:-runs/bench}
mkdir -p "$out"
log="$out/side_by_side.jsonl"
: > "$log"
py=/usr/bin/python3

# protoclr starts with OpenBLAS kernels chosen for the CPU (include/protoclr/core/blas.h);
# the reference runs as users run it, with OpenBLAS's own choice, and, where the two differ,
# once more with protoclr's, so the table can separate the kernel choice from the rest.
kernel=$(build/protoclr --version | sed -n 's/^blas: OpenBLAS \([A-Za-z0-9]*\).*/\1/p')
ref_kernel=$(OPENBLAS_VERBOSE=2 $py -c "import numpy" 2>&1 | sed -n 's/^Core: //p')
echo "# OpenBLAS kernels: protoclr ${kernel:-?}, reference ${ref_kernel:-?}"

reference() {  # $1: label, then an optional env assignment
  local who=$1; shift
  env "$@" $py $ref/ref_pcl.py "$data" --cifar-stem --limit 10000 --steps 10 --num-cluster 100,200,500 --r 1024 \
    | sed "s/^{/{\"who\":\"$who\",/" | tee -a "$log"
  env "$@" $py bench/ref_proto_logits.py | sed "s/^{/{\"who\":\"$who\",/" | tee -a "$log"
}

if [ "${2:-}" != "--skip-reference" ]; then
  echo "# reference (PyTorch, ref_pcl.py / ref_loader.py)"
  reference "reference"
  if [ -n "$kernel" ] && [ "${kernel,,}" != "${ref_kernel,,}" ]; then
    echo "# reference with OPENBLAS_CORETYPE=$kernel"
    reference "reference+${kernel}" OPENBLAS_CORETYPE="$kernel"
  fi
  for size in 224 32; do
    $py $ref/ref_loader.py "$data" $size 2 2048 | sed 's/^{/{"who":"reference",/' | tee -a "$log"
  done
fi

echo "# protoclr"
build/protoclr train --data "$data" --preset pcl-v2 --arch resnet18 --cifar-stem --image-size 32 \
  --limit 10000 --epochs 1 --warmup-epochs 0 --num-clusters 100,200,500 --neg-prototypes 1024 \
  --queue-size 1024 --batch-size 256 --max-steps 12 --threads 2 --workers 2 --knn-every 0 \
  --save-every 0 --out "$out/train" ${PROTOCLR_TRAIN_FLAGS:-} > /dev/null
tail -n 1 "$out/train/metrics.jsonl" | sed 's/^{/{"who":"protoclr","phase":"train+estep",/' | tee -a "$log"
for size in 224 32; do
  build/bench_loader "$data" --size $size --workers 2 --images 2048 | sed 's/^{/{"who":"protoclr",/' | tee -a "$log"
done
build/bench_estep | sed 's/^{/{"who":"protoclr",/' | tee -a "$log"
echo "# all lines in $log"
