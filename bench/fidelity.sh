#!/usr/bin/env bash
# Does protoclr learn as much as the published PCL / MoCo at the same budget? Trains both
# (protoclr, and bench/ref_train.py: the published algorithm in one PyTorch process) on the
# same data with the same settings for several seeds, evaluates both with the same code
# (protoclr eval knn / cluster on the query encoder's embedding; the reference's checkpoint
# goes through `protoclr import`), then prints the table of docs/BENCHMARKS.md, "Fidelity".
#
# Usage: bench/fidelity.sh [-s SEEDS] [-m METHODS] [-e EPOCHS] [-x STOP] [-i INIT] [-o OUT] [-w WHO] [-- extra protoclr train flags]
#   SEEDS    comma list (default 0,1,2)            METHODS  pcl,moco (default both)
#   EPOCHS   default 12 (2 of warm-up)             WHO      protoclr,reference,random (default all)
#   STOP     stop every training after this epoch, the schedule still that of EPOCHS: the loss
#            proxies of issue 25 (epochs 2 and 4); not evaluated; a protoclr run is continued by
#            a later call with a larger STOP or none, a reference run is trained again.
#   INIT     both trainers start from this side's initial weights of the seed: protoclr or
#            reference (the crossed design of docs/BENCHMARKS.md), or FILE, a checkpoint in the
#            published layout (bench/init_mix.py). Run folders are named ...-from-INIT.
#   OUT      default runs/fidelity; finished runs are kept and not run again.
#   FIDELITY_BF16=1 trains both sides with bf16 autocast (2.3x faster on CPUs with AMX);
#   FIDELITY_DATA=DIR another ImageFolder root with train/ and test/.
#   FIDELITY_THREADS=N intra-op threads of each training and evaluation (default 2).
#   FIDELITY_WORKERS=N loader workers of each training and evaluation (default 2).
#   FIDELITY_QUERY_BN=N normalises the query batch in N groups on both sides (the published
#   runs' per-GPU BN is 8; default 1, the whole batch).
# Needs: scripts/setup.sh --with-python (python3-torch, -torchvision, -faiss), build/protoclr.
# Budget of issue 12: CIFAR-10, 5,000 training images, ResNet-18 CIFAR stem, MLP head, 12
# epochs, batch 128, lr 0.06 cosine, wd 5e-4, m 0.999, tau 0.2, r = queue = 1024, K =
# 50,100,200, split-BN 8. About 30 minutes per run on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=0,1,2 methods=pcl,moco epochs=12 out=runs/fidelity who=protoclr,reference,random stop="" init=""
while getopts "s:m:e:x:i:o:w:" opt; do
  case $opt in
    s) seeds=$OPTARG ;; m) methods=$OPTARG ;; e) epochs=$OPTARG ;; o) out=$OPTARG ;; w) who=$OPTARG ;;
    x) stop=$OPTARG ;; i) init=$OPTARG ;;
    *) sed -n '2,28p' "$0"; exit 2 ;;
  esac
done
[ -z "$stop" ] || [ "$stop" -le "$epochs" ] 2>/dev/null || { echo "fidelity.sh: -x $stop: give an epoch from 0 to $epochs"; exit 2; }
case "$init" in
  ""|protoclr|reference) ;;
  *) [ -f "$init" ] || { echo "fidelity.sh: -i $init: no such file (protoclr, reference, or a checkpoint in the published layout)"; exit 2; } ;;
esac
shift $((OPTIND - 1))
data=${FIDELITY_DATA:-../shared/datasets/cifar10}
py=/usr/bin/python3
bin=build/protoclr
[ -x $bin ] || { echo "fidelity.sh: $bin not found: build first (scripts/test.sh or cmake --build build)"; exit 1; }
[ -d "$data/train" ] || { echo "fidelity.sh: $data/train not found: set FIDELITY_DATA to an ImageFolder root"; exit 1; }
mkdir -p "$out"
threads="--threads ${FIDELITY_THREADS:-2} --workers ${FIDELITY_WORKERS:-2}"
target=${stop:-$epochs}  # the epochs each training runs

# Both sides train on the same 5,000 images: the first 500 of each class (by file name), as
# links in $out/train-5000/train. (protoclr's --limit draws its own seeded sample and the
# reference takes the first 500 of each class: the sides would see other images.)
subset=$out/train-5000
if [ ! -d "$subset" ]; then
  staging=$(mktemp -d "$out/.train-5000.XXXXXX")  # renamed into place whole: parallel calls are safe
  for dir in "$(realpath "$data/train")"/*/; do
    mkdir -p "$staging/train/$(basename "$dir")"
    find "$dir" -maxdepth 1 -type f | sort | awk 'NR <= 500' | xargs -d '\n' ln -s -t "$staging/train/$(basename "$dir")"
  done
  mv -T "$staging" "$subset" 2>/dev/null || rm -rf "$staging"
fi
bf16=$([ "${FIDELITY_BF16:-0}" = 1 ] && echo --bf16 || true)
query_bn=${FIDELITY_QUERY_BN:-1}
clusters=50,100,200

# protoclr's training flags at this budget (the preset is added per method).
protoclr_flags=(--arch resnet18 --cifar-stem --image-size 32 --limit 0 --epochs "$epochs" --warmup-epochs 2
  --batch-size 128 --lr 0.06 --wd 5e-4 --moco-m 0.999 --temperature 0.2 --bn-splits 8 --queue-size 1024
  --neg-prototypes 1024 --num-clusters $clusters $threads $bf16 --query-bn-splits "$query_bn" --knn-every 0 --save-every 0)

epochs_logged() {  # $1: run folder -> the number of epochs in its metrics.jsonl
  [ -s "$1/metrics.jsonl" ] && grep -c '"epoch"' "$1/metrics.jsonl" || echo 0
}

# protoclr's untrained network of seed $2 in folder $1: the model `train` builds at that seed
# (--stop-after-epochs 0), as checkpoint.pt and exported in the published layout.
protoclr_initial() {
  local dir=$1 seed=$2
  [ -s "$dir/checkpoint.pth.tar" ] && return
  rm -rf "$dir"
  { $bin train --data "$subset/train" --preset pcl-v2 "${protoclr_flags[@]}" --seed "$seed" \
      --stop-after-epochs 0 --out "$dir" && $bin export "$dir" --format pcl --out "$dir/checkpoint.pth.tar"; } \
    > "$dir.log" 2>&1 || { echo "fidelity.sh: protoclr's initial weights failed, see $dir.log"; exit 1; }
}

# The initial weights of each side for seed $1, both as a protoclr checkpoint (for `train
# --init`) and in the published layout (for `ref_train.py --init`); sets init_protoclr,
# init_published and the run folders' suffix. protoclr's: protoclr_initial; the reference's:
# ref_train.py with no epochs, imported (ref_initial); a FILE: imported.
initial_weights() {
  local seed=$1 dir
  case "$init" in
    protoclr)
      dir=$out/random-protoclr-s$seed
      protoclr_initial "$dir" "$seed"
      init_protoclr=$dir/checkpoint.pt init_published=$dir/checkpoint.pth.tar suffix=-from-protoclr-init ;;
    reference)
      dir=$out/random-reference-s$seed
      ref_initial "$dir" "$seed"
      init_protoclr=$dir/imported.pt init_published=$dir/checkpoint.pth.tar suffix=-from-reference-init ;;
    *)
      local name
      name=$(basename "$init" .pth.tar | tr -c 'A-Za-z0-9_.\n-' _)
      dir=$out/init-$name
      mkdir -p "$dir"
      [ -s "$dir/imported.pt" ] || $bin import "$init" --out "$dir/imported.pt" > "$dir.log" 2>&1 \
        || { echo "fidelity.sh: protoclr import $init failed, see $dir.log"; exit 1; }
      init_protoclr=$dir/imported.pt init_published=$init suffix=-from-$name ;;
  esac
}

# The same evaluation for every model: kNN (k 200, tau 0.07) with a bank of 5,000 training
# images over all test images, and AMI of k-means (K = 10, 5 restarts) on the test images.
evaluate() {  # $1: run folder, then the model flags
  local dir=$1; shift
  [ -s "$dir/eval.json" ] && return
  local knn cluster
  knn=$($bin eval knn "$@" --encoder query --layer embedding --image-size 32 --train "$data/train" \
    --train-limit 5000 --test "$data/test" --test-limit 0 $threads --json 2>/dev/null)
  cluster=$($bin eval cluster "$@" --encoder query --layer embedding --image-size 32 --data "$data/test" \
    --limit 0 --redo 5 $threads --json 2>/dev/null)
  printf '{"knn":%s,"cluster":%s}\n' "$knn" "$cluster" > "$dir/eval.json"
}

ref_flags=(--limit 0 --cifar-stem --warmup-epochs 2 --batch-size 128 --lr 0.06 --wd 5e-4 --moco-m 0.999
  --r 1024 --bn-splits 8 --temperature 0.2 $bf16 --query-bn-splits "$query_bn" $threads)

# The reference's untrained network of seed $2 (ref_train.py with no epochs) in folder $1,
# imported.
ref_initial() {
  local dir=$1 seed=$2
  [ -s "$dir/imported.pt" ] && return
  rm -rf "$dir"
  { $py bench/ref_train.py "$subset" "${ref_flags[@]}" --epochs 0 --seed "$seed" --out "$dir" > /dev/null 2> "$dir.log" \
    && $bin import "$dir/checkpoint.pth.tar" --out "$dir/imported.pt" >> "$dir.log" 2>&1; } \
    || { echo "fidelity.sh: the reference failed, see $dir.log"; exit 1; }
}

# The published algorithm (bench/ref_train.py) with K = $3 (empty: MoCo), seed $2, into folder
# $1 for $target epochs (from the weights in $4, if any); its checkpoint through `protoclr
# import`; then evaluated when it ran all the epochs.
train_reference() {
  local dir=$1 seed=$2 ks=$3 from=${4:-}
  if [ "$(epochs_logged "$dir")" -lt "$target" ] || [ ! -s "$dir/imported.pt" ]; then
    echo "# reference, $target of $epochs epochs, K = ${ks:-none}, seed $seed${from:+, from $from} -> $dir"
    rm -rf "$dir"
    { $py bench/ref_train.py "$subset" "${ref_flags[@]}" --epochs "$epochs" --stop-after-epochs "$target" \
        --num-cluster "$ks" --seed "$seed" ${from:+--init "$from"} --out "$dir" > /dev/null 2> "$dir.log" \
      && $bin import "$dir/checkpoint.pth.tar" --out "$dir/imported.pt" >> "$dir.log" 2>&1; } \
      || { echo "fidelity.sh: the reference failed, see $dir.log"; exit 1; }
  fi
  [ "$target" = "$epochs" ] && evaluate "$dir" --checkpoint "$dir/imported.pt"
  return 0
}

# protoclr with preset $3 for $target epochs, seed $2, into folder $1 (from the weights in $4,
# if any); a run stopped earlier (-x) is continued; evaluated when it ran all the epochs.
train_protoclr() {
  local run=$1 seed=$2 preset=$3 from=${4:-}
  shift 4
  local done_epochs
  done_epochs=$(epochs_logged "$run")
  if [ "$done_epochs" -lt "$target" ] || [ ! -s "$run/checkpoint.pt" ]; then
    echo "# protoclr $preset, $target of $epochs epochs, seed $seed${from:+, from $from} -> $run"
    if [ -s "$run/checkpoint.pt" ] && [ "$done_epochs" -gt 0 ]; then
      $bin train --resume "$run" --stop-after-epochs "$target" 2>> "$run.log" \
        || { echo "fidelity.sh: protoclr failed, see $run.log"; exit 1; }
    else
      rm -rf "$run"
      $bin train --data "$subset/train" --preset "$preset" "${protoclr_flags[@]}" --seed "$seed" \
        --stop-after-epochs "$target" ${from:+--init "$from"} --out "$run" "$@" 2> "$run.log" \
        || { echo "fidelity.sh: protoclr failed, see $run.log"; exit 1; }
    fi
  fi
  [ "$target" = "$epochs" ] && evaluate "$run" --checkpoint "$run"
  return 0
}

for seed in ${seeds//,/ }; do
  if [[ ",$who," == *",random,"* ]]; then
    # The untrained networks of both sides: protoclr's init and torchvision's (ref_train.py
    # with no epochs), so the gains can be read against each side's own start. Both are
    # scored from a checkpoint with eval's default seed: `eval --random-init --seed S` would
    # also draw another kNN bank and k-means start per seed, on one side only.
    protoclr_initial "$out/random-protoclr-s$seed" "$seed"
    evaluate "$out/random-protoclr-s$seed" --checkpoint "$out/random-protoclr-s$seed/checkpoint.pt"
    ref_initial "$out/random-reference-s$seed" "$seed"
    evaluate "$out/random-reference-s$seed" --checkpoint "$out/random-reference-s$seed/imported.pt"
  fi
  # -i: both trainers from one side's weights; a trainer from its own side's weights is its
  # plain run (the same weights, the same seeded streams), so only the other is trained.
  init_protoclr="" init_published="" suffix=""
  if [ -n "$init" ]; then
    initial_weights "$seed"
  fi
  for method in ${methods//,/ }; do
    ks=$([ "$method" = pcl ] && echo $clusters || true)
    if [[ ",$who," == *",protoclr,"* ]]; then
      if [ "$init" = protoclr ]; then
        train_protoclr "$out/protoclr-$method-s$seed" "$seed" "$method-v2" "" "$@"
      else
        train_protoclr "$out/protoclr-$method-s$seed$suffix" "$seed" "$method-v2" "$init_protoclr" "$@"
      fi
    fi
    if [[ ",$who," == *",reference,"* ]]; then
      if [ "$init" = reference ]; then
        train_reference "$out/reference-$method-s$seed" "$seed" "$ks"
      else
        train_reference "$out/reference-$method-s$seed$suffix" "$seed" "$ks" "$init_published"
      fi
    fi
  done
done
$py bench/fidelity_table.py "$out"
