#!/usr/bin/python3
"""MoCo v2 training in plain PyTorch (torchvision ResNet, PIL augmentation), written from the
MoCo / PCL papers and their published code's conventions, to compare protoclr's *accuracy*
after the same budget with the PyTorch way of doing the same thing on the same data.

It mirrors `protoclr train --preset moco-v2` in one process: query encoder with full-batch
BatchNorm, momentum key encoder run on a shuffled batch split into --bn-splits groups
(shuffle-BN), a queue of normalised keys, InfoNCE, SGD with momentum 0.9, weight decay 1e-4
and a per-epoch cosine schedule, then after each epoch the weighted kNN monitor (k = 200,
tau = 0.07, InstDisc) on momentum-encoder embeddings, as protoclr's trainer reports it.
One JSON line per epoch.

    /usr/bin/python3 bench/ref_train.py /usr/share/datasets/fashion-mnist --limit 16000 \
        --val-limit 2000 --epochs 2 --lr 0.06 --moco-m 0.99
"""
import argparse, gzip, json, math, os, random, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, torchvision
import torchvision.transforms as T
from PIL import Image, ImageFilter

p = argparse.ArgumentParser()
p.add_argument("data", help="Fashion-MNIST IDX folder or an ImageFolder root with train/ and test/")
p.add_argument("--limit", type=int, default=16000)
p.add_argument("--val-limit", type=int, default=2000)
p.add_argument("--image-size", type=int, default=32)
p.add_argument("--cifar-stem", action="store_true")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--lr", type=float, default=0.06)
p.add_argument("--moco-m", type=float, default=0.99)
p.add_argument("--queue-size", type=int, default=4096)
p.add_argument("--bn-splits", type=int, default=4)
p.add_argument("--temperature", type=float, default=0.2)
p.add_argument("--aug", default="mocov2", choices=["mocov1", "mocov2"])
p.add_argument("--crop-scale", type=float, default=0.2, help="smallest crop area of RandomResizedCrop")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--workers", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
random.seed(a.seed); np.random.seed(a.seed); torch.manual_seed(a.seed)


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


def open_split(split, limit):
    """-> (list of PIL RGB images, labels array)."""
    if os.path.exists(os.path.join(a.data, "train-images-idx3-ubyte.gz")):
        prefix = "train" if split == "train" else "t10k"
        x = read_idx(os.path.join(a.data, f"{prefix}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(a.data, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
        keep = balanced_first(y, limit)
        return [Image.fromarray(x[i]).convert("RGB") for i in keep], y[keep]
    folder = torchvision.datasets.ImageFolder(os.path.join(a.data, split))
    y = np.array([t for _, t in folder.samples])
    keep = balanced_first(y, limit)
    return [folder.loader(folder.samples[i][0]) for i in keep], y[keep]


class Blur:
    def __call__(self, x):
        return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))


norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
crop = T.RandomResizedCrop(a.image_size, scale=(a.crop_scale, 1.0))
if a.aug == "mocov1":
    augment = T.Compose([crop, T.RandomGrayscale(p=0.2), T.ColorJitter(0.4, 0.4, 0.4, 0.4),
                         T.RandomHorizontalFlip(), T.ToTensor(), norm])
else:
    augment = T.Compose([crop, T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                         T.RandomGrayscale(p=0.2), T.RandomApply([Blur()], p=0.5),
                         T.RandomHorizontalFlip(), T.ToTensor(), norm])
evaluate = T.Compose([T.Resize(a.image_size), T.CenterCrop(a.image_size), T.ToTensor(), norm])


class Images(torch.utils.data.Dataset):
    def __init__(self, images, labels, views):
        self.images, self.labels, self.views = images, labels, views

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i]
        if self.views == 2:
            return augment(x), augment(x), i
        return evaluate(x), int(self.labels[i])


def encoder():
    m = torchvision.models.resnet18(num_classes=128)
    if a.cifar_stem:
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    d = m.fc.weight.shape[1]
    m.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), m.fc)
    return m


q_enc, k_enc = encoder(), encoder()
k_enc.load_state_dict(q_enc.state_dict())
for w in k_enc.parameters():
    w.requires_grad = False
queue = F.normalize(torch.randn(a.queue_size, 128), dim=1)
head = 0
sgd = torch.optim.SGD(q_enc.parameters(), a.lr, momentum=0.9, weight_decay=1e-4)


@torch.no_grad()
def keys_with_shuffle_bn(x):
    """Key encoder on a shuffled batch in --bn-splits BatchNorm groups, unshuffled."""
    perm = torch.randperm(x.shape[0])
    out = torch.cat([k_enc(chunk) for chunk in torch.tensor_split(x[perm], a.bn_splits)])
    k = torch.empty_like(out)
    k[perm] = out
    return F.normalize(k, dim=1)


@torch.no_grad()
def embed(model, ds):
    model.eval()
    feats, labels = [], []
    for x, y in torch.utils.data.DataLoader(ds, batch_size=512, num_workers=a.workers):
        feats.append(F.normalize(model(x), dim=1)); labels.append(y)
    model.train()
    return torch.cat(feats), torch.cat(labels)


def knn_top1(bank, bank_y, test, test_y, k=200, t=0.07, classes=10):
    sim, idx = (test @ bank.T).topk(k, dim=1)
    votes = torch.zeros(test.shape[0], classes).scatter_add_(1, bank_y[idx], (sim / t).exp())
    return (votes.argmax(1) == test_y).float().mean().item() * 100


train_images, train_labels = open_split("train", a.limit)
val_images, val_labels = open_split("test", a.val_limit)
train_two = Images(train_images, train_labels, 2)
train_eval, val_eval = Images(train_images, train_labels, 1), Images(val_images, val_labels, 1)
loader = torch.utils.data.DataLoader(train_two, batch_size=a.batch_size, shuffle=True, drop_last=True,
                                     num_workers=a.workers, persistent_workers=True)


def monitor(record):
    bank, bank_y = embed(k_enc, train_eval)
    test, test_y = embed(k_enc, val_eval)
    record.update(knn_top1=round(knn_top1(bank, bank_y, test, test_y), 2),
                  key_mean_norm=round(bank.mean(0).norm().item(), 4))
    print(json.dumps(record), flush=True)


monitor({"epoch": 0})
for epoch in range(a.epochs):
    lr = a.lr * 0.5 * (1 + math.cos(math.pi * epoch / a.epochs))
    for g in sgd.param_groups:
        g["lr"] = lr
    q_enc.train(); k_enc.train()
    t0, losses, accs, seen = time.time(), [], [], 0
    for v1, v2, _ in loader:
        q = F.normalize(q_enc(v1), dim=1)
        with torch.no_grad():
            for wq, wk in zip(q_enc.parameters(), k_enc.parameters()):
                wk.mul_(a.moco_m).add_(wq.detach(), alpha=1 - a.moco_m)
        k = keys_with_shuffle_bn(v2)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / a.temperature
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
        sgd.zero_grad(); loss.backward(); sgd.step()
        n = k.shape[0]
        queue[head:head + n] = k
        head = (head + n) % a.queue_size
        losses.append(loss.item()); accs.append((logits.argmax(1) == 0).float().mean().item() * 100)
        seen += n
    monitor({"epoch": epoch + 1, "lr": lr, "loss": round(float(np.mean(losses)), 4),
             "acc_inst": round(float(np.mean(accs)), 2), "img_per_s": round(seen / (time.time() - t0), 1)})
