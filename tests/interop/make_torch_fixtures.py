#!/usr/bin/python3
"""PyTorch side of protoclr's interop tests (tests/interop/test_torch_equivalence.cpp).

    make_torch_fixtures.py make OUTDIR
        torchvision ResNet-18, ResNet-50 and a CIFAR-stem ResNet-18 (fixed seed, random BN
        statistics, eval mode) saved in both torch.save formats, a published-layout PCL v2
        checkpoint (MoCo with MLP head, optimizer state, legacy format as PyTorch 1.4
        wrote it), and for each an input batch and the eval-mode outputs.
    make_torch_fixtures.py check-torchvision FILE.pth IO.pt
        loads protoclr's torchvision export into torchvision (strict=False, only fc.*
        missing) and reproduces protoclr's pooled features stored in IO.pt.
    make_torch_fixtures.py check-pcl FILE.pth IO.pt
        loads protoclr's PCL export into the published MoCo encoder and
        reproduces protoclr's embeddings stored in IO.pt.
    make_torch_fixtures.py check-equal A.pth B.pth
        every state_dict tensor (and optimizer momentum buffer) of A equals B's bit for bit.

Prints one line per check with the max abs difference; exits non-zero on failure. Run with
the Debian torch: /usr/bin/python3 (the one with python3-torch, python3-torchvision).
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from published_pcl import moco_encoder  # noqa: E402  the published encoder, one definition

TOL = 1e-4


def backbone(arch, cifar_stem=False, num_classes=1000):
    """A torchvision ResNet (the CIFAR stem swapped in as the published CIFAR code does)."""
    return moco_encoder(arch, num_classes, mlp=False, cifar_stem=cifar_stem)


def randomize_bn(model, gen):
    """Non-trivial BN statistics and affine parameters, so eval mode exercises buffers."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))


def features(model, x):
    """Pooled trunk output [B, d] (torchvision's forward without fc)."""
    fc = model.fc
    model.fc = nn.Identity()
    try:
        return model(x)
    finally:
        model.fc = fc


def save_both(obj, out, name):
    torch.save(obj, os.path.join(out, name + ".pth"))
    torch.save(obj, os.path.join(out, name + "_legacy.pth"), _use_new_zipfile_serialization=False)


def make(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    for name, arch, cifar, size in (("resnet18", "resnet18", False, 64), ("resnet18_cifar", "resnet18", True, 32),
                                    ("resnet50", "resnet50", False, 64)):
        model = backbone(arch, cifar).eval()
        randomize_bn(model, gen)
        x = torch.randn(2, 3, size, size, generator=gen)
        with torch.no_grad():
            save_both(model.state_dict(), out, name)
            torch.save({"x": x, "features": features(model, x)}, os.path.join(out, name + "_io.pt"))

    # Published PCL layout (main_pcl.py save_checkpoint on a DistributedDataParallel MoCo):
    # PCL v2 = MoCo v2 MLP head, low_dim 128; encoder_k differs from encoder_q.
    arch, low_dim, queue_size = "resnet18", 128, 64
    q = moco_encoder(arch, low_dim, mlp=True, cifar_stem=False).eval()
    k = moco_encoder(arch, low_dim, mlp=True, cifar_stem=False).eval()
    randomize_bn(q, gen)
    randomize_bn(k, gen)
    sd = {}
    for prefix, enc in (("module.encoder_q.", q), ("module.encoder_k.", k)):
        for key, t in enc.state_dict().items():
            sd[prefix + key] = t
    sd["module.queue"] = nn.functional.normalize(torch.randn(low_dim, queue_size, generator=gen), dim=0)
    sd["module.queue_ptr"] = torch.tensor([17], dtype=torch.long)
    params = list(q.parameters()) + list(k.parameters())
    optimizer = torch.optim.SGD(params, lr=0.03, momentum=0.9, weight_decay=1e-4)
    for p in q.parameters():
        p.grad = torch.randn(p.shape, generator=gen)
    optimizer.step()
    checkpoint = {"epoch": 200, "arch": arch, "state_dict": sd, "optimizer": optimizer.state_dict()}
    torch.save(checkpoint, os.path.join(out, "pcl_v2_resnet18.pth.tar"), _use_new_zipfile_serialization=False)
    x = torch.randn(2, 3, 64, 64, generator=gen)
    with torch.no_grad():
        torch.save({"x": x, "features": features(q, x), "embedding_q": q(x), "embedding_k": k(x)},
                   os.path.join(out, "pcl_v2_resnet18_io.pt"))
    print("fixtures written to", out)


def report(label, mine, reference):
    # Relative to the largest reference value (at least 1), as the C++ side compares: pooled
    # ResNet-50 features reach ~2,300, where one float ulp is 2.4e-4.
    diff = (mine - reference).abs().max().item() / max(1.0, reference.abs().max().item())
    print(f"{label}: max relative diff {diff:.3g}")
    if not diff <= TOL:
        print(f"FAIL: {label} differs by more than {TOL}")
        sys.exit(1)


def check_torchvision(path, io_path):
    sd = torch.load(path, weights_only=True)
    io = torch.load(io_path, weights_only=True)
    bottleneck = "layer1.0.conv3.weight" in sd
    arch = "resnet50" if bottleneck else ("resnet34" if "layer3.5.conv1.weight" in sd else "resnet18")
    model = backbone(arch, cifar_stem=sd["conv1.weight"].shape[-1] == 3).eval()
    result = model.load_state_dict(sd, strict=False)
    if sorted(result.missing_keys) != ["fc.bias", "fc.weight"] or result.unexpected_keys:
        print(f"FAIL: load_state_dict missing {result.missing_keys} unexpected {result.unexpected_keys}")
        sys.exit(1)
    with torch.no_grad():
        mine = features(model, io["x"])
    report(f"torchvision {arch} from {os.path.basename(path)}", mine, io["features"])


def check_pcl(path, io_path):
    ckpt = torch.load(path)  # not weights_only: 1.13's lacks floats (the optimizer's lr)
    io = torch.load(io_path, weights_only=True)
    sd = ckpt["state_dict"]
    mlp = "module.encoder_q.fc.0.weight" in sd
    low_dim = sd["module.encoder_q.fc.2.weight" if mlp else "module.encoder_q.fc.weight"].shape[0]
    cifar = sd["module.encoder_q.conv1.weight"].shape[-1] == 3
    for name in ("q", "k"):
        enc = moco_encoder(ckpt["arch"], low_dim, mlp, cifar).eval()
        prefix = f"module.encoder_{name}."
        enc.load_state_dict({k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}, strict=True)
        with torch.no_grad():
            mine = enc(io["x"])
        report(f"PCL export encoder_{name} ({ckpt['arch']}, epoch {ckpt['epoch']})", mine, io["embedding_" + name])
    assert sd["module.queue"].shape == (low_dim, sd["module.queue"].shape[1])
    # main_pcl.py --resume: the optimizer state loads into SGD over MoCo's parameters.
    q = moco_encoder(ckpt["arch"], low_dim, mlp, cifar)
    k = moco_encoder(ckpt["arch"], low_dim, mlp, cifar)
    opt = torch.optim.SGD(list(q.parameters()) + list(k.parameters()), lr=0.03, momentum=0.9)
    opt.load_state_dict(ckpt["optimizer"])
    print("PCL export optimizer state loads into torch.optim.SGD")


def check_equal(a_path, b_path):
    # weights_only=False: PyTorch 1.13's weights_only unpickler lacks BINFLOAT (the lr).
    a = torch.load(a_path)
    b = torch.load(b_path)
    sa, sb = a.get("state_dict", a), b.get("state_dict", b)
    if sorted(sa) != sorted(sb):
        print(f"FAIL: keys differ: only in A {sorted(set(sa) - set(sb))[:5]}, only in B {sorted(set(sb) - set(sa))[:5]}")
        sys.exit(1)
    for key in sa:
        if sa[key].dtype != sb[key].dtype or sa[key].shape != sb[key].shape or not torch.equal(sa[key], sb[key]):
            print(f"FAIL: {key} differs ({sa[key].dtype} {tuple(sa[key].shape)} vs {sb[key].dtype} {tuple(sb[key].shape)})")
            sys.exit(1)
    n = len(sa)
    if "optimizer" in a and "optimizer" in b:
        ma, mb = a["optimizer"]["state"], b["optimizer"]["state"]
        if sorted(ma) != sorted(mb):
            print("FAIL: optimizer state indices differ")
            sys.exit(1)
        for i in ma:
            if not torch.equal(ma[i]["momentum_buffer"], mb[i]["momentum_buffer"]):
                print(f"FAIL: momentum buffer {i} differs")
                sys.exit(1)
        n += len(ma)
    if a.get("epoch") != b.get("epoch") or a.get("arch") != b.get("arch"):
        print(f"FAIL: epoch/arch differ: {a.get('epoch')}/{a.get('arch')} vs {b.get('epoch')}/{b.get('arch')}")
        sys.exit(1)
    print(f"{n} tensors bit-identical")


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"make": make, "check-torchvision": check_torchvision, "check-pcl": check_pcl, "check-equal": check_equal}[mode](*args)
