#!/usr/bin/python3
"""Freshly initialised encoders as the published code builds them, for
tests/model/test_init_equivalence.cpp: torchvision's ResNet, with the CIFAR stem put in after
construction as MoCo's CIFAR demo does (so conv1 keeps PyTorch's default Conv2d init), and
MoCo v2's MLP head. One JSON object per architecture case:
  "params":  {key: [mean, std, numel]} of one draw (every parameter and buffer);
  "kind_of": {key: kind}, the layer kind and tensor of every parameter ("conv.weight",
             "stem.weight", "linear.bias", "bn.weight", ...), as initialised alike;
  "kinds":   {kind: {"n", "kurtosis", "quantiles"}} of the kind's values pooled over `draws`
             seeded draws (the first TENSOR_CAP values of each tensor, so every layer counts),
             each tensor standardised by its own mean and std: the shape of the distribution (uniform
             against normal, truncation), which mean and std cannot see.
"""
import json, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import published_pcl  # noqa: E402  the published encoder, shared with bench/ref_train.py

QUANTILES = torch.linspace(0.005, 0.995, 199, dtype=torch.float64)
TENSOR_CAP = 1 << 14  # the C++ test pools the same way


def kinds_of(model, cifar_stem):
    """key -> kind for every parameter: the module type that initialises it, and the tensor."""
    out = {}
    for name, module in model.named_modules():
        prefix = name + "." if name else ""
        if isinstance(module, torch.nn.Conv2d):
            kind = "stem" if name == "conv1" and cifar_stem else "conv"
        elif isinstance(module, torch.nn.Linear):
            kind = "linear"
        elif isinstance(module, torch.nn.BatchNorm2d):
            kind = "bn"
        else:
            continue
        for p, _ in module.named_parameters(recurse=False):
            out[prefix + p] = f"{kind}.{p}"
    return out


def standardised(t):
    """The tensor's values less their mean, over their std (the whole tensor's); None for a constant."""
    t = t.detach().double().flatten()
    sd = t.std()
    return (t - t.mean()) / sd if sd > 0 else None


# Every architecture protoclr offers, both stems and both heads among them; enough draws that
# the smallest kinds (the head's biases, the CIFAR stem) pool 1,700 values or more.
CASES = (("resnet18", True, True, 8), ("resnet18", False, False, 16), ("resnet34", False, True, 4),
         ("resnet50", False, True, 2), ("resnet50", True, False, 8))
for arch, cifar, mlp, draws in CASES:
    pooled = {}
    for draw in range(draws):
        torch.manual_seed(draw)
        m = published_pcl.moco_encoder(arch, 128, mlp, cifar)
        kind_of = kinds_of(m, cifar)
        if draw == 0:
            state = dict(m.named_parameters())
            state.update(m.named_buffers())
            params = {k: [v.double().mean().item(), v.double().std().item(), v.numel()] for k, v in state.items()
                      if v.is_floating_point()}
        for key, value in m.named_parameters():
            z = standardised(value)
            parts = pooled.setdefault(kind_of[key], [])
            if z is not None:
                parts.append(z[:TENSOR_CAP])
    pooled = {k: v for k, v in pooled.items() if v}
    kinds = {}
    for kind, parts in pooled.items():
        z = torch.cat(parts)
        kinds[kind] = {"n": z.numel(), "kurtosis": ((z - z.mean()) ** 4).mean().item() / z.var(unbiased=False).item() ** 2 - 3,
                       "quantiles": torch.quantile(z, QUANTILES).tolist()}
    print(json.dumps({"arch": arch, "cifar_stem": cifar, "mlp": mlp, "draws": draws, "params": params,
                      "kind_of": kind_of, "kinds": kinds}))
