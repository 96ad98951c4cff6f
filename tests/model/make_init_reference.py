#!/usr/bin/python3
"""Per-parameter mean and standard deviation of freshly initialised encoders as the published
code builds them, for tests/model/test_init_equivalence.cpp: torchvision's ResNet, with the
CIFAR stem put in after construction as MoCo's CIFAR demo does (so conv1 keeps PyTorch's
default Conv2d init), and MoCo v2's MLP head. One JSON object per line:
{"arch":..., "cifar_stem":..., "mlp":..., "params": {key: [mean, std, numel]}}.
"""
import json, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import published_pcl  # noqa: E402  the published encoder, shared with bench/ref_train.py

torch.manual_seed(0)
for arch, cifar, mlp in (("resnet18", True, True), ("resnet18", False, False)):
    m = published_pcl.moco_encoder(arch, 128, mlp, cifar)
    params = {k: [v.mean().item(), v.std().item(), v.numel()] for k, v in m.named_parameters()}
    print(json.dumps({"arch": arch, "cifar_stem": cifar, "mlp": mlp, "params": params}))
