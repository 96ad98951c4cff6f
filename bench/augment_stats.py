#!/usr/bin/python3
"""Statistics of two-view augmentation, protoclr's against torchvision's on the same images:
protoclr's views come from build/dump_views (the trainer's loader), torchvision's from the
published pipeline (PIL, pcl/loader.py's blur). Each figure is computed by the same code for
both, over every image and both views:

  mean, std            de-normalised pixel values in [0, 1], per channel
  grey                 share of views with R = G = B (RandomGrayscale, p = 0.2)
  edge                 mean |x[., j+1] - x[., j]|: sharpness (blur, resampling, crop scale)
  view_gap             mean |view1 - view2| of the same image: how far apart positives are
  thumb_cos_same/other cosine of 4x4 mean-centred colour thumbnails of the two views of one
                       image / of two different images: how much of the image survives

    build/dump_views DIR /tmp/views.f32 --size 32
    /usr/bin/python3 bench/augment_stats.py DIR /tmp/views.f32 [--size 32] [--repeats 3]
"""
import argparse, json, random
import numpy as np, torch, torchvision

import published_pcl  # bench/published_pcl.py, next to this file

p = argparse.ArgumentParser()
p.add_argument("data", help="an ImageFolder root")
p.add_argument("views", help="build/dump_views output for the same folder")
p.add_argument("--size", type=int, default=32)
p.add_argument("--crop-scale", type=float, default=0.2)
p.add_argument("--repeats", type=int, default=1, help="torchvision draws per image (more: less noise)")
a = p.parse_args()
random.seed(0); torch.manual_seed(0)

MEAN, STD = published_pcl.IMAGENET_MEAN, published_pcl.IMAGENET_STD
augment = published_pcl.augmentation("mocov2", a.size, a.crop_scale, normalize=False)


def stats(v):
    """v: [N, 2, 3, S, S] in [0, 1]."""
    flat = v.transpose(0, 2).reshape(3, -1)
    grey = ((v[:, :, 0] - v[:, :, 1]).abs().amax((-1, -2)) < 1e-3) & ((v[:, :, 1] - v[:, :, 2]).abs().amax((-1, -2)) < 1e-3)
    thumb = torch.nn.functional.adaptive_avg_pool2d(v.reshape(-1, 3, a.size, a.size), 4).reshape(len(v), 2, -1)
    thumb = torch.nn.functional.normalize(thumb - thumb.mean(-1, keepdim=True), dim=-1)
    return {"mean": [round(x, 4) for x in flat.mean(1).tolist()],
            "std": [round(x, 4) for x in flat.std(1).tolist()],
            "grey": round(grey.float().mean().item(), 4),
            "edge": round((v[..., 1:] - v[..., :-1]).abs().mean().item(), 4),
            "view_gap": round((v[:, 0] - v[:, 1]).abs().mean().item(), 4),
            "thumb_cos_same": round((thumb[:, 0] * thumb[:, 1]).sum(-1).mean().item(), 4),
            "thumb_cos_other": round((thumb[:, 0] * thumb[:, 1].roll(1, 0)).sum(-1).mean().item(), 4)}


folder = torchvision.datasets.ImageFolder(a.data)
images = [folder.loader(path) for path, _ in folder.samples]
mine = torch.from_numpy(np.fromfile(a.views, dtype=np.float32)).reshape(len(images), 2, 3, a.size, a.size)
mine = mine * torch.tensor(STD).view(1, 1, 3, 1, 1) + torch.tensor(MEAN).view(1, 1, 3, 1, 1)
theirs = torch.stack([torch.stack([augment(x), augment(x)]) for _ in range(a.repeats) for x in images])
print(json.dumps({"who": "protoclr", "images": len(mine), **stats(mine)}))
print(json.dumps({"who": "torchvision", "images": len(theirs), **stats(theirs)}))
