#!/usr/bin/python3
"""The tables of bench/fidelity.sh: kNN top-1 and AMI, mean +- standard deviation over seeds,
for protoclr and the reference (bench/ref_train.py) of each method, their gains over the
random network; the loss proxies (the mean training loss of chosen epochs, mean +- standard
deviation over seeds) for each trainer and initial weights (`-i`: the crossed design); and
the per-epoch training curves of both side by side (means over seeds).

    /usr/bin/python3 bench/fidelity_table.py runs/fidelity [--proxy-epochs 2,4]
"""
import argparse, glob, json, os, re, statistics

args = argparse.ArgumentParser()
args.add_argument("out", nargs="?", default="runs/fidelity")
args.add_argument("--proxy-epochs", default="2,4", help="epochs whose mean training loss the proxy table shows")
args = args.parse_args()
out = args.out
runs = {}     # (who, method) -> {seed: folder}: each trainer from its own initial weights
crossed = {}  # (who, method, initial weights) -> {seed: folder}: every trainer and start
for folder in sorted(glob.glob(os.path.join(out, "*-s*"))):
    m = re.fullmatch(r"(protoclr|reference)-(pcl|moco)-s(\d+)(?:-from-(.+))?|random-(protoclr|reference)-s(\d+)",
                     os.path.basename(folder))
    if not m or not os.path.isdir(folder):
        continue
    if m[1]:
        start = m[4] or f"{m[1]}-init"
        crossed.setdefault((m[1], m[2], start), {})[int(m[3])] = folder
        if m[4] and m[4] != f"{m[1]}-init":
            continue
        key, seed = (m[1], m[2]), int(m[3])
    else:
        key, seed = (m[5], "random"), int(m[6])
    runs.setdefault(key, {})[seed] = folder


def evaluation(folder):
    path = os.path.join(folder, "eval.json")
    if not os.path.exists(path):
        return None
    e = json.load(open(path))
    return e["knn"]["top1"], e["cluster"]["ami"]


def spread(values):
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return mean, sd


print("| run | seeds | kNN top-1 | AMI | kNN gain over own random init | AMI gain | kNN / AMI per seed |")
print("|---|---|---|---|---|---|---|")
rows = {}
for key, folders in runs.items():
    scored = {seed: s for seed, s in ((seed, evaluation(f)) for seed, f in sorted(folders.items())) if s}
    scores = list(scored.values())
    if scores:
        per_seed = "; ".join(f"s{seed}: {s[0]:.2f} / {s[1]:.3f}" for seed, s in scored.items())
        rows[key] = (len(scores), spread([s[0] for s in scores]), spread([s[1] for s in scores]), per_seed)
for method in ("random", "pcl", "moco"):
    for who in ("reference", "protoclr"):
        if (who, method) not in rows:
            continue
        n, knn, ami, per_seed = rows[(who, method)]
        base = rows.get((who, "random"))
        gain = (f"{knn[0] - base[1][0]:+.2f} | {ami[0] - base[2][0]:+.4f}" if base and method != "random" else " | ")
        name = f"random init, {who}" if method == "random" else f"{method.upper()}-v2, {who}"
        print(f"| {name} | {n} | {knn[0]:.2f} ± {knn[1]:.2f} | {ami[0]:.4f} ± {ami[1]:.4f} | {gain} | {per_seed} |")


def curves(folder):
    path = os.path.join(folder, "metrics.jsonl")
    rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    return {r["epoch"]: r for r in rows if "loss" in r and "epoch" in r}


def cell(values):
    """mean +- std (n) of a list of numbers; the value alone for one."""
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.3f} (1)"
    mean, sd = spread(values)
    return f"{mean:.3f} ± {sd:.3f} ({len(values)})"


proxy_epochs = [int(e) for e in args.proxy_epochs.split(",") if e]
if crossed:
    print("\nLoss proxies: mean training loss of the epoch, mean ± std over seeds (seeds)")
    print("| method | trainer | initial weights | " + " | ".join(f"epoch {e}" for e in proxy_epochs) + " | per seed |")
    print("|---|---|---|" + "---|" * len(proxy_epochs) + "---|")
    for (who, method, start), folders in sorted(crossed.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        per_seed = {seed: curves(f) for seed, f in sorted(folders.items())}
        cells = [cell([c[e]["loss"] for c in per_seed.values() if e in c]) for e in proxy_epochs]
        detail = "; ".join(f"s{seed}: " + " / ".join(f"{c[e]['loss']:.3f}" for e in proxy_epochs if e in c)
                           for seed, c in per_seed.items() if any(e in c for e in proxy_epochs))
        if detail:
            print(f"| {method.upper()}-v2 | {who} | {start} | " + " | ".join(cells) + f" | {detail} |")


for method in ("pcl", "moco"):
    per_who = {}
    for who in ("reference", "protoclr"):
        per_seed = [curves(f) for f in runs.get((who, method), {}).values()]
        per_who[who] = per_seed
    if not any(per_who.values()):
        continue
    epochs = sorted({e for seeds in per_who.values() for c in seeds for e in c})
    print(f"\n{method.upper()}-v2, per epoch (mean over seeds): loss / acc@inst / acc@proto, reference | protoclr")
    print("| epoch | reference | protoclr |\n|---|---|---|")
    for e in epochs:
        cells = []
        for who in ("reference", "protoclr"):
            rows = [c[e] for c in per_who[who] if e in c]
            if not rows:
                cells.append("")
                continue
            mean = lambda k: statistics.mean(r[k] for r in rows if r.get(k) is not None) if any(
                r.get(k) is not None for r in rows) else None
            parts = [f"{mean('loss'):.3f}", f"{mean('acc_inst'):.1f}"]
            if mean("acc_proto") is not None:
                parts.append(f"{mean('acc_proto'):.1f}")
            cells.append(" / ".join(parts))
        print(f"| {e} | {cells[0]} | {cells[1]} |")
