"""The published PCL code's pieces that more than one script needs (github.com/salesforce/PCL:
main_pcl.py, pcl/loader.py), written literally: the encoder, the augmentation and the E-step
(run_kmeans, on the CPU). Used by bench/ref_train.py, bench/augment_stats.py and the PyTorch
side of the equivalence tests (tests/*/make_*.py, which put bench/ on sys.path). torch and
faiss are imported where needed, so the E-step alone needs only numpy and faiss."""
import random

import numpy as np

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def split_batch_norm_class():
    """MoCo's CIFAR demo (moco/colab), literally: BatchNorm over `num_splits` groups of the
    batch (samples i, i + splits, ...; one GPU's shuffle-BN), running statistics averaged over
    the groups. Defined in a function so that importing this file needs no torch."""
    import torch.nn as nn

    class SplitBatchNorm(nn.BatchNorm2d):
        def __init__(self, num_features, num_splits, **kw):
            super().__init__(num_features, **kw)
            self.num_splits = num_splits

        def forward(self, input):
            N, C, H, W = input.shape
            if self.training or not self.track_running_stats:
                running_mean_split = self.running_mean.repeat(self.num_splits)
                running_var_split = self.running_var.repeat(self.num_splits)
                outcome = nn.functional.batch_norm(
                    input.view(-1, C * self.num_splits, H, W), running_mean_split, running_var_split,
                    self.weight.repeat(self.num_splits), self.bias.repeat(self.num_splits),
                    True, self.momentum, self.eps).view(N, C, H, W)
                self.running_mean.data.copy_(running_mean_split.view(self.num_splits, C).mean(dim=0))
                self.running_var.data.copy_(running_var_split.view(self.num_splits, C).mean(dim=0))
                return outcome
            return nn.functional.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                                            False, self.momentum, self.eps)

    return SplitBatchNorm


def moco_encoder(arch, low_dim, mlp, cifar_stem, bn_splits=1):
    """The MoCo / PCL encoder: a torchvision ResNet whose fc is the head (main_pcl.py), MoCo
    v2's MLP head with `mlp`, and with `cifar_stem` the 3x3 stride-1 conv1 and no max-pool
    swapped in after construction, as MoCo's CIFAR demo does (so conv1 keeps PyTorch's
    default init); with bn_splits > 1 the demo's SplitBatchNorm in every BN layer."""
    import functools
    import torch.nn as nn
    import torchvision
    norm = functools.partial(split_batch_norm_class(), num_splits=bn_splits) if bn_splits > 1 else None
    model = getattr(torchvision.models, arch)(num_classes=low_dim, norm_layer=norm)
    if cifar_stem:
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    if mlp:
        dim_mlp = model.fc.weight.shape[1]
        model.fc = nn.Sequential(nn.Linear(dim_mlp, dim_mlp), nn.ReLU(), model.fc)
    return model


class GaussianBlur:
    """pcl/loader.py: PIL's Gaussian blur with sigma drawn from [0.1, 2]."""

    def __init__(self, sigma=(0.1, 2.0)):
        self.sigma = sigma

    def __call__(self, x):
        from PIL import ImageFilter
        return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))


def augmentation(name, size, crop_scale=0.2, normalize=True):
    """main_pcl.py's training augmentation of one view: "mocov1" (PCL v1) or "mocov2" (PCL
    v2), at `size` pixels, crops from `crop_scale` of the area; a tensor in [0, 1] without
    `normalize`."""
    import torchvision.transforms as T
    crop = T.RandomResizedCrop(size, scale=(crop_scale, 1.0))
    if name == "mocov1":
        steps = [crop, T.RandomGrayscale(p=0.2), T.ColorJitter(0.4, 0.4, 0.4, 0.4), T.RandomHorizontalFlip()]
    else:
        steps = [crop, T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(p=0.2),
                 T.RandomApply([GaussianBlur()], p=0.5), T.RandomHorizontalFlip()]
    steps.append(T.ToTensor())
    if normalize:
        steps.append(T.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return T.Compose(steps)


def run_kmeans(x, num_cluster, temperature, seeds):
    """x: [N, D] float32 normalised features. Per K of num_cluster (with the seed of the same
    position): faiss Clustering (niter 20, nredo 5, 10 to 1000 points per centroid) on an
    exact L2 index, the nearest centroid of every point, and the concentration phi of eq. (12)
    with max phi for clusters of one point, clipped to its 10th..90th percentiles, scaled to
    mean temperature. Returns one dict per K: im2cluster [N] int64, centroids [K, D]
    normalised, density (phi) [K]."""
    import faiss
    results = []
    for k, seed in zip(num_cluster, seeds):
        d = x.shape[1]
        clus = faiss.Clustering(d, k)
        clus.verbose = False
        clus.niter, clus.nredo, clus.seed = 20, 5, int(seed)
        clus.max_points_per_centroid, clus.min_points_per_centroid = 1000, 10
        index = faiss.IndexFlatL2(d)
        clus.train(x, index)
        D, I = index.search(x, 1)
        im2cluster = [int(n[0]) for n in I]
        centroids = faiss.vector_to_array(clus.centroids).reshape(k, d)
        Dcluster = [[] for _ in range(k)]
        for im, i in enumerate(im2cluster):
            Dcluster[i].append(D[im][0])
        density = np.zeros(k)
        for i, dist in enumerate(Dcluster):
            if len(dist) > 1:
                density[i] = (np.asarray(dist) ** 0.5).mean() / np.log(len(dist) + 10)
        dmax = density.max()
        for i, dist in enumerate(Dcluster):
            if len(dist) <= 1:
                density[i] = dmax
        density = density.clip(np.percentile(density, 10), np.percentile(density, 90))
        density = temperature * density / density.mean()
        results.append({"im2cluster": np.asarray(im2cluster, dtype=np.int64),
                        "centroids": centroids / np.linalg.norm(centroids, axis=1, keepdims=True),
                        "density": density})
    return results
