#!/usr/bin/env bash
# Does protoclr learn as much as the published PCL / MoCo at the same budget? Trains both
# (protoclr, and bench/ref_train.py: the published algorithm in one PyTorch process) on the
# same data with the same settings for several seeds, evaluates both with the same code
# (protoclr eval knn / cluster on the query encoder's embedding; the reference's checkpoint
# goes through `protoclr import`), then prints the table of docs/BENCHMARKS.md, "Fidelity".
#
# Usage: bench/fidelity.sh [-s SEEDS] [-m METHODS] [-e EPOCHS] [-o OUT] [-w WHO] [-- extra protoclr train flags]
#   SEEDS    comma list (default 0,1,2)            METHODS  pcl,moco (default both)
#   EPOCHS   default 12 (2 of warm-up)             WHO      protoclr,reference,random (default all)
#   OUT      default runs/fidelity; finished runs are kept and not run again.
#   FIDELITY_BF16=1 trains both sides with bf16 autocast (2.3x faster on CPUs with AMX);
#   FIDELITY_DATA=DIR another ImageFolder root with train/ and test/.
#   FIDELITY_THREADS=N intra-op threads of each training and evaluation (default 2).
#   FIDELITY_QUERY_BN=N normalises the query batch in N groups on both sides (the published
#   runs' per-GPU BN is 8; default 1, the whole batch).
# Needs: scripts/setup.sh --with-python (python3-torch, -torchvision, -faiss), build/protoclr.
# Budget of issue 12: CIFAR-10, 5,000 training images, ResNet-18 CIFAR stem, MLP head, 12
# epochs, batch 128, lr 0.06 cosine, wd 5e-4, m 0.999, tau 0.2, r = queue = 1024, K =
# 50,100,200, split-BN 8. About 30 minutes per run on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=0,1,2 methods=pcl,moco epochs=12 out=runs/fidelity who=protoclr,reference,random
while getopts "s:m:e:o:w:" opt; do
  case $opt in
    s) seeds=$OPTARG ;; m) methods=$OPTARG ;; e) epochs=$OPTARG ;; o) out=$OPTARG ;; w) who=$OPTARG ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
data=${FIDELITY_DATA:-../shared/datasets/cifar10}
py=/usr/bin/python3
bin=build/protoclr
[ -x $bin ] || { echo "fidelity.sh: $bin not found: build first (scripts/test.sh or cmake --build build)"; exit 1; }
[ -d "$data/train" ] || { echo "fidelity.sh: $data/train not found: set FIDELITY_DATA to an ImageFolder root"; exit 1; }
mkdir -p "$out"
threads="--threads ${FIDELITY_THREADS:-2} --workers 2"

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

# The published algorithm (bench/ref_train.py) for $3 epochs with K = $4 (empty: MoCo), seed
# $2, into folder $1; its checkpoint through `protoclr import`; then evaluate.
reference() {
  local dir=$1 seed=$2 n_epochs=$3 ks=$4
  if [ ! -s "$dir/imported.pt" ]; then
    echo "# reference, $n_epochs epochs, K = ${ks:-none}, seed $seed -> $dir"
    rm -rf "$dir"
    { $py bench/ref_train.py "$subset" --limit 0 --cifar-stem --epochs "$n_epochs" --warmup-epochs 2 \
        --num-cluster "$ks" --batch-size 128 --lr 0.06 --wd 5e-4 --moco-m 0.999 --r 1024 --bn-splits 8 \
        --temperature 0.2 --seed "$seed" $bf16 --query-bn-splits "$query_bn" --out "$dir" > /dev/null 2> "$dir.log" \
      && $bin import "$dir/checkpoint.pth.tar" --out "$dir/imported.pt" >> "$dir.log" 2>&1; } \
      || { echo "fidelity.sh: the reference failed, see $dir.log"; exit 1; }
  fi
  evaluate "$dir" --checkpoint "$dir/imported.pt"
}

for seed in ${seeds//,/ }; do
  if [[ ",$who," == *",random,"* ]]; then
    # The untrained networks of both sides: protoclr's init and torchvision's (ref_train.py
    # with no epochs), so the gains can be read against each side's own start.
    mkdir -p "$out/random-s$seed"
    evaluate "$out/random-s$seed" --random-init --arch resnet18 --cifar-stem --seed "$seed"
    reference "$out/random-reference-s$seed" "$seed" 0 ""
  fi
  for method in ${methods//,/ }; do
    preset=$method-v2
    run=$out/protoclr-$method-s$seed
    if [[ ",$who," == *",protoclr,"* ]]; then
      if [ ! -s "$run/checkpoint.pt" ]; then
        echo "# protoclr $preset seed $seed -> $run"
        rm -rf "$run"
        $bin train --data "$subset/train" --preset "$preset" --arch resnet18 --cifar-stem --image-size 32 \
          --limit 0 --epochs "$epochs" --warmup-epochs 2 --batch-size 128 --lr 0.06 --wd 5e-4 \
          --moco-m 0.999 --temperature 0.2 --bn-splits 8 --queue-size 1024 --neg-prototypes 1024 \
          --num-clusters $clusters --seed "$seed" $threads $bf16 --query-bn-splits "$query_bn" --knn-every 0 --save-every 0 --out "$run" "$@" \
          2> "$run.log" || { echo "fidelity.sh: protoclr failed, see $run.log"; exit 1; }
      fi
      evaluate "$run" --checkpoint "$run"
    fi
    if [[ ",$who," == *",reference,"* ]]; then
      reference "$out/reference-$method-s$seed" "$seed" "$epochs" "$([ "$method" = pcl ] && echo $clusters)"
    fi
  done
done
$py bench/fidelity_table.py "$out"
