#!/usr/bin/python3
"""PCL and MoCo v2 trained the published way, in one PyTorch process, to compare what
protoclr *learns* at the same budget with what the published algorithms learn
(docs/BENCHMARKS.md, "Fidelity"; bench/fidelity.sh runs both side by side).

It follows the published code (github.com/salesforce/PCL: main_pcl.py, pcl/builder.py,
pcl/loader.py; MoCo's moco/builder.py) literally where it can, in one process:
- torchvision ResNet with an MLP head, a momentum key encoder (parameters only), a queue of
  normalised keys, InfoNCE with tau, SGD (momentum 0.9, weight decay on every parameter) and
  the cosine schedule per epoch: lr * 0.5 * (1 + cos(pi * epoch / epochs));
- the 8 GPUs' BatchNorm as --bn-splits groups of MoCo's CIFAR-demo SplitBatchNorm: keys on a
  shuffled batch (shuffle-BN), running statistics averaged over the groups; with
  --query-bn-splits the query encoder too, as each GPU normalises its own 32 images (the
  published runs do; protoclr's query BN sees the whole batch by default);
- PCL's E-step once per epoch from --warmup-epochs on: momentum-encoder features of centre
  crops in eval mode, faiss Clustering (niter 20, nredo 5, 10 to 1000 points per centroid,
  a random seed per level), phi = mean ||v - c|| / log(Z + 10) with max phi for singletons,
  clipped to its 10th..90th percentiles and scaled to mean tau, normalised centroids;
- ProtoNCE: per level the batch's own prototypes, then `random.sample` of the ids not in the
  batch (all of them when fewer than r: the published code would raise), logits q.c / phi,
  the levels' cross-entropies averaged and added to InfoNCE.
One JSON line per epoch on stdout (loss, acc_inst, acc_proto, lr, seconds); with --out, the
final model as the published checkpoint layout (`state_dict` with `module.encoder_q.*`),
which `protoclr import` reads, so both sides are evaluated by the same code.

    /usr/bin/python3 bench/ref_train.py ../shared/datasets/cifar10 --limit 5000 --cifar-stem \
        --epochs 12 --warmup-epochs 2 --num-cluster 50,100,200 --r 1024 --out runs/ref-pcl
"""
import argparse, gzip, json, math, os, random, time
import numpy as np, torch, torch.nn.functional as F, torchvision
import torchvision.transforms as T
from PIL import Image

import published_pcl  # bench/published_pcl.py, next to this file

p = argparse.ArgumentParser()
p.add_argument("data", help="Fashion-MNIST IDX folder or an ImageFolder root with train/")
p.add_argument("--limit", type=int, default=5000, help="class-balanced: the first limit/classes of each class")
p.add_argument("--image-size", type=int, default=32)
p.add_argument("--cifar-stem", action="store_true")
p.add_argument("--epochs", type=int, default=12, help="the schedule's length (cosine over these epochs)")
p.add_argument("--stop-after-epochs", type=int, default=-1,
               help="stop after this many epochs, the schedule still that of --epochs (loss proxies); -1: all")
p.add_argument("--warmup-epochs", type=int, default=2, help="InfoNCE only before this epoch")
p.add_argument("--num-cluster", default="", help="K per level, e.g. 50,100,200 (empty: MoCo)")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--lr", type=float, default=0.06)
p.add_argument("--wd", type=float, default=5e-4)
p.add_argument("--moco-m", type=float, default=0.999)
p.add_argument("--r", type=int, default=1024, help="queue size and negative prototypes")
p.add_argument("--bn-splits", type=int, default=8)
p.add_argument("--query-bn-splits", type=int, default=1, help="BN groups of the query batch (1: whole batch)")
p.add_argument("--temperature", type=float, default=0.2)
p.add_argument("--aug", default="mocov2", choices=["mocov1", "mocov2"])
p.add_argument("--crop-scale", type=float, default=0.2, help="smallest crop area of RandomResizedCrop")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--workers", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--bf16", action="store_true", help="bf16 autocast of the encoders (protoclr's --bf16)")
p.add_argument("--views", default="", help="train on protoclr's views: DIR/views_e{epoch}.f32 from build/dump_views")
p.add_argument("--out", default="", help="folder for metrics.jsonl and checkpoint.pth.tar")
p.add_argument("--init", default="", help="start from these weights: a checkpoint in the published layout "
               "(`module.encoder_q.*`, `module.encoder_k.*`, `module.queue`), e.g. `protoclr export --format pcl`")
a = p.parse_args()
torch.set_num_threads(a.threads)
random.seed(a.seed); np.random.seed(a.seed); torch.manual_seed(a.seed)
levels_k = [int(v) for v in a.num_cluster.split(",") if v]
assert a.r % a.batch_size == 0, "--r must be a multiple of --batch-size (as MoCo's queue asserts)"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def balanced_first(labels, limit):
    """The first limit/classes images of every class (a class-balanced subset)."""
    if limit <= 0 or limit >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    per = limit // len(classes)
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:per] for c in classes]))


def open_train(limit):
    """-> list of PIL RGB images."""
    if os.path.exists(os.path.join(a.data, "train-images-idx3-ubyte.gz")):
        x = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz")).astype(np.int64)
        return [Image.fromarray(x[i]).convert("RGB") for i in balanced_first(y, limit)]
    folder = torchvision.datasets.ImageFolder(os.path.join(a.data, "train"))
    y = np.array([t for _, t in folder.samples])
    return [folder.loader(folder.samples[i][0]) for i in balanced_first(y, limit)]


augment = published_pcl.augmentation(a.aug, a.image_size, a.crop_scale)
centre = T.Compose([T.Resize(a.image_size), T.CenterCrop(a.image_size), T.ToTensor(),
                    T.Normalize(published_pcl.IMAGENET_MEAN, published_pcl.IMAGENET_STD)])


class Images(torch.utils.data.Dataset):
    def __init__(self, images, two_views):
        self.images, self.two_views = images, two_views

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i]
        if self.two_views and a.views:  # protoclr's views of this epoch (--views)
            return (protoclr_views[i, 0], protoclr_views[i, 1]), i
        return ((augment(x), augment(x)) if self.two_views else centre(x)), i


def encoder(bn_splits):
    return published_pcl.moco_encoder("resnet18", 128, mlp=True, cifar_stem=a.cifar_stem, bn_splits=bn_splits)


def forward(model, x):
    """model on x (bf16 autocast with --bf16), float32 out."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        return model(x).float()


# MoCo's CIFAR demo: both encoders normalise in SplitBatchNorm groups (the query's through
# --query-bn-splits, 1 = the whole batch, protoclr's default).
q_enc, k_enc = encoder(a.query_bn_splits), encoder(a.bn_splits)
k_enc.load_state_dict(q_enc.state_dict())
for w in k_enc.parameters():
    w.requires_grad = False
queue = F.normalize(torch.randn(a.r, 128), dim=1)
head = 0
if a.init:
    # Weights only, after the model was built: the seeded streams (data order, augmentation,
    # shuffle-BN) are those of a run from its own initialisation, so only the weights differ.
    init = torch.load(a.init, map_location="cpu")
    init = init.get("state_dict", init)
    for prefix, enc in (("module.encoder_q.", q_enc), ("module.encoder_k.", k_enc)):
        enc.load_state_dict({k[len(prefix):]: v for k, v in init.items() if k.startswith(prefix)})
    if "module.queue" in init:
        assert init["module.queue"].shape == (128, a.r), f"--init: queue {tuple(init['module.queue'].shape)}, want (128, {a.r})"
        queue = init["module.queue"].T.contiguous().clone()
sgd = torch.optim.SGD(q_enc.parameters(), a.lr, momentum=0.9, weight_decay=a.wd)


@torch.no_grad()
def keys_with_shuffle_bn(x):
    """Key encoder on a shuffled batch in --bn-splits BatchNorm groups, unshuffled."""
    perm = torch.randperm(x.shape[0])
    out = forward(k_enc, x[perm])
    k = torch.empty_like(out)
    k[perm] = out
    return F.normalize(k, dim=1)


@torch.no_grad()
def key_features(ds):
    """main_pcl.py compute_features: the momentum encoder on centre crops, eval mode."""
    k_enc.eval()
    feats = torch.zeros(len(ds), 128)
    for x, ids in torch.utils.data.DataLoader(ds, batch_size=512, num_workers=a.workers):
        feats[ids] = F.normalize(forward(k_enc, x), dim=1)
    k_enc.train()
    return feats.numpy()


def run_kmeans(x):
    """main_pcl.py run_kmeans (bench/published_pcl.py), a random seed per level as published."""
    levels = published_pcl.run_kmeans(x, levels_k, a.temperature, [np.random.randint(1000) for _ in levels_k])
    return [{"im2cluster": torch.from_numpy(c["im2cluster"]), "centroids": torch.Tensor(c["centroids"]),
             "density": torch.Tensor(c["density"])} for c in levels]


def proto_logits(q, index, clusters):
    """pcl/builder.py forward, the prototype part."""
    out, targets = [], []
    for c in clusters:
        pos_proto_id = c["im2cluster"][index]
        all_proto_id = range(int(c["im2cluster"].max()))  # as published: max() excludes the top id
        neg_proto_id = set(all_proto_id) - set(pos_proto_id.tolist())
        neg_proto_id = random.sample(sorted(neg_proto_id), min(a.r, len(neg_proto_id)))
        chosen = torch.cat([pos_proto_id, torch.LongTensor(neg_proto_id)])
        logits = q @ c["centroids"][chosen].t() / c["density"][chosen]
        out.append(logits)
        targets.append(torch.arange(q.shape[0]))
    return out, targets


train_images = open_train(a.limit)
two_views, centre_crops = Images(train_images, True), Images(train_images, False)
loader = torch.utils.data.DataLoader(two_views, batch_size=a.batch_size, shuffle=True, drop_last=True,
                                     num_workers=a.workers, persistent_workers=a.workers > 0)
if a.out:
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "metrics.jsonl"), "w")


def emit(record):
    line = json.dumps(record)
    print(line, flush=True)
    if a.out:
        log.write(line + "\n"); log.flush()


epochs_run = a.epochs if a.stop_after_epochs < 0 else min(a.epochs, a.stop_after_epochs)
for epoch in range(epochs_run):
    if a.views:
        protoclr_views = torch.from_numpy(np.fromfile(os.path.join(a.views, f"views_e{epoch}.f32"), dtype=np.float32))
        protoclr_views = protoclr_views.reshape(len(train_images), 2, 3, a.image_size, a.image_size)
        loader = torch.utils.data.DataLoader(two_views, batch_size=a.batch_size, shuffle=True, drop_last=True, num_workers=0)
    clusters = run_kmeans(key_features(centre_crops)) if levels_k and epoch >= a.warmup_epochs else []
    lr = a.lr * 0.5 * (1 + math.cos(math.pi * epoch / a.epochs))
    for g in sgd.param_groups:
        g["lr"] = lr
    q_enc.train(); k_enc.train()
    t0, losses, accs, proto_accs, seen = time.time(), [], [], [], 0
    for (v1, v2), index in loader:
        q = F.normalize(forward(q_enc, v1), dim=1)
        with torch.no_grad():
            for wq, wk in zip(q_enc.parameters(), k_enc.parameters()):
                wk.mul_(a.moco_m).add_(wq.detach(), alpha=1 - a.moco_m)
        k = keys_with_shuffle_bn(v2)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / a.temperature
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
        if clusters:
            outs, targets = proto_logits(q, index, clusters)
            loss = loss + sum(F.cross_entropy(o, t) for o, t in zip(outs, targets)) / len(outs)
            proto_accs.append(np.mean([(o.argmax(1) == t).float().mean().item() * 100 for o, t in zip(outs, targets)]))
        sgd.zero_grad(); loss.backward(); sgd.step()
        n = k.shape[0]
        queue[head:head + n] = k
        head = (head + n) % a.r
        losses.append(loss.item()); accs.append((logits.argmax(1) == 0).float().mean().item() * 100)
        seen += n
    record = {"epoch": epoch + 1, "lr": lr, "loss": round(float(np.mean(losses)), 4),
              "acc_inst": round(float(np.mean(accs)), 2), "seconds": round(time.time() - t0, 1),
              "img_per_s": round(seen / (time.time() - t0), 1)}
    if proto_accs:
        record["acc_proto"] = round(float(np.mean(proto_accs)), 2)
    emit(record)

if a.out:
    state = {f"module.encoder_q.{k}": v for k, v in q_enc.state_dict().items()}
    state.update({f"module.encoder_k.{k}": v for k, v in k_enc.state_dict().items()})
    state["module.queue"] = queue.T.contiguous()
    state["module.queue_ptr"] = torch.tensor([head])
    torch.save({"epoch": epochs_run, "arch": "resnet18", "state_dict": state},
               os.path.join(a.out, "checkpoint.pth.tar"))
