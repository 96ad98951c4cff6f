#!/usr/bin/python3
"""Per-parameter mean and standard deviation of freshly initialised encoders as the published
code builds them, for tests/model/test_init_equivalence.cpp: torchvision's ResNet, with the
CIFAR stem put in after construction as MoCo's CIFAR demo does (so conv1 keeps PyTorch's
default Conv2d init), and MoCo v2's MLP head. One JSON object per line:
{"arch":..., "cifar_stem":..., "mlp":..., "params": {key: [mean, std, numel]}}.
"""
import json
import torch, torch.nn as nn, torchvision

torch.manual_seed(0)
for arch, cifar, mlp in (("resnet18", True, True), ("resnet18", False, False)):
    m = torchvision.models.__dict__[arch](num_classes=128)
    if cifar:
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    if mlp:
        d = m.fc.weight.shape[1]
        m.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), m.fc)
    params = {k: [v.mean().item(), v.std().item(), v.numel()] for k, v in m.named_parameters()}
    print(json.dumps({"arch": arch, "cifar_stem": cifar, "mlp": mlp, "params": params}))
