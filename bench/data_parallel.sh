#!/usr/bin/env bash
# Issue 15: 2 processes x 1 thread against 1 process x 2 threads at the same global batch, on
# a CIFAR-10 subset: the steps' settled img/s (epoch 1, InfoNCE; epoch 2, ProtoNCE after a
# sharded E-step), the E-step's time and the bytes each process sent (dist::Traffic); and the
# two processes again with the gradient all-reduce after backward instead of overlapped.
# Usage: bench/data_parallel.sh [DATA] (default ../shared/datasets/cifar10/train); PROTOCLR, OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PROTOCLR:-build/protoclr}
data=${1:-../shared/datasets/cifar10/train}
out=${OUT:-$(mktemp -d)}
common=(train --data "$data" --limit 5120 --preset pcl-v2 --arch resnet18 --cifar-stem --image-size 32
        --batch-size 128 --epochs 2 --warmup-epochs 1 --num-clusters 100,200 --bn-splits 2 --query-bn-splits 2
        --max-steps 20 --knn-every 0 --kmeans-backend torch)
"$bin" "${common[@]}" --threads 2 --workers 2 --out "$out/one" >/dev/null
"$bin" "${common[@]}" --threads 1 --workers 1 --nproc-per-node 2 --out "$out/two" >/dev/null
"$bin" "${common[@]}" --threads 1 --workers 1 --nproc-per-node 2 --overlap-gradients false --out "$out/two-after-backward" >/dev/null
python3 - "$out" <<'PY'
import json, sys
for name in ("one", "two", "two-after-backward"):
    for line in open(f"{sys.argv[1]}/{name}/metrics.jsonl"):
        r = json.loads(line)
        print(f"{name}: epoch {r['epoch']}  settled {r['settled_img_per_s']:.1f} img/s  "
              f"E-step {r['estep_seconds']:.2f} s (k-means {r['kmeans_seconds']:.2f} s)  "
              f"sent/step {r.get('sent_bytes_per_step', 0) / 2**20:.2f} MiB  E-step sent {r.get('estep_sent_bytes', 0) / 2**20:.2f} MiB")
PY
