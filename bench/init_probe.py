#!/usr/bin/python3
"""Do protoclr's untrained networks score like the reference's, over many seeds? A cheap
step-0 proxy (docs/BENCHMARKS.md, "Fidelity", issue 25): for each seed, both sides' initial
weights (protoclr's from `protoclr train --stop-after-epochs 0`, exported; the reference's
as bench/ref_train.py builds them: torch.manual_seed, then published_pcl.moco_encoder) go
through the same PyTorch network in eval mode, and each is scored on the same images:
  knn  weighted kNN top-1 (k 20, tau 0.07) of 1,000 CIFAR-10 test images against a bank of
       1,000 others (the first and the next --per-class 100 of each class), on the
       normalised embedding;
  cos  the mean cosine between the embeddings of different images (near 1: collapsed).
Prints one line per seed and side, then mean ± std per side and Welch's t of the difference.
With --mix GROUPS, protoclr's tensors of those groups (bench/init_mix.py's) go into the
reference's network of the same seed: which groups move the score.

    /usr/bin/python3 bench/init_probe.py --seeds 0-19 [--mix head,stem] [--threads 1]
"""
import argparse, glob, json, math, os, statistics, subprocess, sys, tempfile

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import published_pcl  # noqa: E402
from init_mix import GROUPS, group_of  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--seeds", default="0-9", help="a range A-B or a comma list")
p.add_argument("--data", default="../shared/datasets/cifar10/test", help="an ImageFolder of labelled images")
p.add_argument("--train", default="runs/fidelity/train-5000/train",
               help="the folder protoclr's `train` opens to build its model (any ImageFolder)")
p.add_argument("--bin", default="build/protoclr")
p.add_argument("--mix", default="", help="protoclr's groups put into the reference's network (" + ",".join(GROUPS) + ")")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--per-class", type=int, default=100, help="bank and query images per class")
a = p.parse_args()
torch.set_num_threads(a.threads)
seeds = (list(range(int(a.seeds.split("-")[0]), int(a.seeds.split("-")[1]) + 1)) if "-" in a.seeds
         else [int(s) for s in a.seeds.split(",")])
mix = [g for g in a.mix.split(",") if g]
for path in (a.data, a.train):
    if not os.path.isdir(path):
        sys.exit(f"init_probe.py: no folder '{path}'")
if not os.access(a.bin, os.X_OK):
    sys.exit(f"init_probe.py: {a.bin} not found: build first")

centre = T.Compose([T.Resize(32), T.CenterCrop(32), T.ToTensor(),
                    T.Normalize(published_pcl.IMAGENET_MEAN, published_pcl.IMAGENET_STD)])
classes = sorted(os.listdir(a.data))
bank, query, bank_y, query_y = [], [], [], []
for label, c in enumerate(classes):
    files = sorted(glob.glob(os.path.join(a.data, c, "*")))[:2 * a.per_class]
    for i, f in enumerate(files):
        (bank if i < a.per_class else query).append(centre(Image.open(f).convert("RGB")))
        (bank_y if i < a.per_class else query_y).append(label)
images = torch.stack(bank + query)
bank_y, query_y = torch.tensor(bank_y), torch.tensor(query_y)


def score(state):
    """(kNN top-1 %, mean pairwise cosine) of the query encoder in `state` (published layout)."""
    model = published_pcl.moco_encoder("resnet18", 128, mlp=True, cifar_stem=True)
    model.load_state_dict({k[len("module.encoder_q."):]: v for k, v in state.items() if k.startswith("module.encoder_q.")})
    model.eval()
    with torch.no_grad():
        f = F.normalize(torch.cat([model(x) for x in images.split(250)]), dim=1)
    b, q = f[:len(bank_y)], f[len(bank_y):]
    sim, idx = (q @ b.T).topk(20, dim=1)
    votes = torch.zeros(len(q), len(classes)).scatter_add_(1, bank_y[idx], (sim / 0.07).exp())
    knn = (votes.argmax(1) == query_y).float().mean().item() * 100
    n = len(f)
    s = f.sum(0)
    cos = ((s @ s).item() - n) / (n * (n - 1))
    return knn, cos


def reference_state(seed):
    torch.manual_seed(seed)  # ref_train.py: the query encoder is the first thing drawn
    model = published_pcl.moco_encoder("resnet18", 128, mlp=True, cifar_stem=True)
    return {"module.encoder_q." + k: v for k, v in model.state_dict().items()}


def protoclr_state(seed, tmp):
    run = os.path.join(tmp, f"p{seed}")
    subprocess.run([a.bin, "train", "--data", a.train, "--preset", "pcl-v2", "--arch", "resnet18", "--cifar-stem",
                    "--image-size", "32", "--limit", "0", "--epochs", "12", "--warmup-epochs", "12",
                    "--queue-size", "1024", "--seed", str(seed), "--threads", "1", "--workers", "1",
                    "--stop-after-epochs", "0", "--out", run], check=True, capture_output=True)
    subprocess.run([a.bin, "export", run, "--format", "pcl", "--out", run + ".pth.tar"], check=True, capture_output=True)
    return torch.load(run + ".pth.tar", map_location="cpu")["state_dict"]


other = "reference+protoclr " + ",".join(mix) if mix else "protoclr"  # the side compared with the reference
results = {"reference": [], other: []}
with tempfile.TemporaryDirectory() as tmp:
    for seed in seeds:
        ref, mine = reference_state(seed), protoclr_state(seed, tmp)
        if mix:
            mine = {**ref, **{k: v for k, v in mine.items() if group_of(k) in mix}}
        for who, state in (("reference", ref), (other, mine)):
            knn, cos = score(state)
            results[who].append((knn, cos))
            print(json.dumps({"seed": seed, "who": who, "knn": round(knn, 2), "cos": round(cos, 4)}), flush=True)


def sd(values):
    return statistics.stdev(values) if len(values) > 1 else float("nan")


print(f"\n| initial weights | seeds | kNN top-1 ({len(bank_y):,} / {len(query_y):,}) | mean pairwise cosine |\n|---|---|---|---|")
for who, rows in results.items():
    knn, cos = [r[0] for r in rows], [r[1] for r in rows]
    print(f"| {who} | {len(rows)} | {statistics.mean(knn):.2f} ± {sd(knn):.2f} | {statistics.mean(cos):.4f} ± {sd(cos):.4f} |")
xa, xb = ([r[0] for r in rows] for rows in results.values())
if len(xa) > 1 and len(xb) > 1:
    diff = statistics.mean(xb) - statistics.mean(xa)
    se = math.sqrt(statistics.variance(xa) / len(xa) + statistics.variance(xb) / len(xb))
    print(f"\nkNN difference {diff:+.2f} points, Welch's t {diff / se if se else float('nan'):+.2f}")
