#!/usr/bin/python3
"""Initial weights of the two sides, compared and mixed (docs/BENCHMARKS.md, "Fidelity",
issue 25). Both files are checkpoints in the published layout (`module.encoder_q.*`,
`module.encoder_k.*`, `module.queue`): the reference's from `ref_train.py --epochs 0`,
protoclr's from `protoclr train --stop-after-epochs 0` then `protoclr export --format pcl`
(bench/fidelity.sh -i makes both, as OUT/random-reference-sS and OUT/random-protoclr-sS).

    # which tensors differ beyond mean and std: per tensor, both sides' mean, std, excess
    # kurtosis, and the two-sample Kolmogorov-Smirnov statistic with its p-value
    bench/init_mix.py compare A.pth.tar B.pth.tar
    # a hybrid: A's tensors for the named groups, B's for the rest; the key encoder a copy
    # of the hybrid query encoder (as both sides start), the queue from A with the group
    # "queue"; then `bench/fidelity.sh -i OUT.pth.tar` trains both sides from it
    bench/init_mix.py mix A.pth.tar B.pth.tar --from-a stem,layer1,bn --out OUT.pth.tar

Groups: stem (conv1), layer1..layer4 (the stage's convolutions, shortcut included), bn (every
BatchNorm's weight, bias and running statistics), head (the MLP head's weights and biases),
queue.
"""
import argparse, math, os, re, sys

import numpy as np
import torch

GROUPS = ["stem", "layer1", "layer2", "layer3", "layer4", "bn", "head", "queue"]
Q, K = "module.encoder_q.", "module.encoder_k."


def group_of(key):
    """The group of a published-layout key, or None (queue_ptr)."""
    if key == "module.queue":
        return "queue"
    if not key.startswith(Q):
        return None
    name = key[len(Q):]
    if name.startswith("fc."):
        return "head"
    if re.search(r"(^|\.)bn\d\.|downsample\.1\.", name):
        return "bn"
    if name == "conv1.weight":
        return "stem"
    m = re.match(r"(layer\d)\.", name)
    return m[1] if m else None


def load(path):
    state = torch.load(path, map_location="cpu")
    return state.get("state_dict", state)


def kurtosis(x):
    """Excess kurtosis: 0 for a normal, -1.2 for a uniform distribution."""
    x = x - x.mean()
    var = (x * x).mean()
    return float((x ** 4).mean() / var ** 2 - 3) if var > 0 else float("nan")


def ks_two_sample(a, b):
    """Two-sample Kolmogorov-Smirnov: the statistic D and its asymptotic p-value."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                            - np.searchsorted(b, grid, side="right") / len(b))))
    n = len(a) * len(b) / (len(a) + len(b))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    p = 2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 101)) if lam > 0 else 1.0
    return d, min(max(p, 0.0), 1.0)


def compare(a_path, b_path):
    a, b = load(a_path), load(b_path)
    for name, state in (("A", a), ("B", b)):
        same = all(torch.equal(v, state[K + k[len(Q):]]) for k, v in state.items()
                   if k.startswith(Q) and K + k[len(Q):] in state)
        print(f"# {name}: key encoder {'equals' if same else 'DIFFERS FROM'} the query encoder")
    print("| tensor | group | n | mean A / B | std A / B | excess kurtosis A / B | KS D | KS p |")
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(k for k in a if group_of(k) and k in b):
        x, y = a[key].double().flatten().numpy(), b[key].double().flatten().numpy()
        if x.size < 2 or a[key].dtype == torch.long:
            continue
        if np.all(x == x[0]) and np.all(y == y[0]):
            print(f"| {key[len(Q):] if key.startswith(Q) else key} | {group_of(key)} | {x.size} | "
                  f"const {x[0]:g} / {y[0]:g} | | | | |")
            continue
        d, p = ks_two_sample(x, y)
        print(f"| {key[len(Q):] if key.startswith(Q) else key} | {group_of(key)} | {x.size} | {x.mean():+.5f} / {y.mean():+.5f} "
              f"| {x.std():.5f} / {y.std():.5f} | {kurtosis(x):+.3f} / {kurtosis(y):+.3f} | {d:.4f} | {p:.3g} |")


def mix(a_path, b_path, from_a, out):
    a, b = load(a_path), load(b_path)
    unknown = set(from_a) - set(GROUPS)
    if unknown:
        sys.exit(f"init_mix.py: unknown group(s) {', '.join(sorted(unknown))} (use {', '.join(GROUPS)})")
    if sorted(k for k in a if k.startswith(Q)) != sorted(k for k in b if k.startswith(Q)):
        sys.exit(f"init_mix.py: {a_path} and {b_path} hold different encoders (another architecture or head?)")
    state = {k: v.clone() for k, v in b.items()}
    taken = {g: 0 for g in from_a}
    for key, value in a.items():
        g = group_of(key)
        if g in from_a:
            assert state[key].shape == value.shape, f"{key}: {tuple(value.shape)} against {tuple(state[key].shape)}"
            state[key] = value.clone()
            taken[g] += 1
    for key in [k for k in state if k.startswith(Q)]:  # the key encoder starts as the query encoder
        state[K + key[len(Q):]] = state[key].clone()
    state["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save({"epoch": 0, "arch": "resnet18", "state_dict": state}, out)
    print(f"{out}: " + ", ".join(f"{g} {n} tensors" for g, n in taken.items()) + f" from {a_path}; the rest from {b_path}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    m = sub.add_parser("mix")
    m.add_argument("a")
    m.add_argument("b")
    m.add_argument("--from-a", default="", help="comma list of groups taken from A")
    m.add_argument("--out", required=True)
    a = p.parse_args()
    for path in (a.a, a.b):
        if not os.path.isfile(path):
            sys.exit(f"init_mix.py: no file '{path}'")
    if a.command == "compare":
        compare(a.a, a.b)
    else:
        mix(a.a, a.b, [g for g in a.from_a.split(",") if g], a.out)
