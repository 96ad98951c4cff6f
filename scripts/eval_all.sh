#!/usr/bin/env bash
# Runs every `protoclr eval` protocol on a checkpoint and on the same network at random
# initialisation, one JSON object per line in OUT/results.jsonl (docs/EVALUATION.md's table).
# Usage: scripts/eval_all.sh CHECKPOINT TRAIN TEST OUT [extra flags for every protocol...]
# e.g.   scripts/eval_all.sh runs/cifar ../shared/datasets/cifar10/train ../shared/datasets/cifar10/test runs/cifar-eval --train-limit 10000
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 CHECKPOINT TRAIN TEST OUT [flags...]" >&2; exit 2; }
ckpt=$1 train=$2 test=$3 out=$4; shift 4
bin=${PROTOCLR:-build/protoclr}
mkdir -p "$out"
: > "$out/results.jsonl"
for init in "" "--random-init"; do
  tag=$([ -z "$init" ] && echo trained || echo random)
  two=(--checkpoint "$ckpt" $init --train "$train" --test "$test" --json "$@")
  one=(--checkpoint "$ckpt" $init --data "$test" --json)
  echo "== $tag" >&2
  "$bin" eval knn "${two[@]}" >> "$out/results.jsonl"
  "$bin" eval linear "${two[@]}" >> "$out/results.jsonl"
  "$bin" eval svm "${two[@]}" --low-shot 1,2,4,8,16 --runs 5 >> "$out/results.jsonl"
  "$bin" eval cluster "${one[@]}" >> "$out/results.jsonl"
  "$bin" eval tsne "${one[@]}" --out "$out/tsne-$tag.png" >> "$out/results.jsonl"
  "$bin" eval finetune "${two[@]}" --label-fraction ${LABEL_FRACTION:-0.01} >> "$out/results.jsonl"
done
echo "results: $out/results.jsonl" >&2
