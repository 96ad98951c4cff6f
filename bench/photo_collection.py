#!/usr/bin/python3
"""Measures `protoclr clusters`, `index`, `search` and `dedupe` on a labelled image folder
(issue 16's "Done when"), the way a user runs them, and prints one JSON object.

  /usr/bin/python3 bench/photo_collection.py --run RUN --test ../shared/datasets/cifar10/test \
      --train ../shared/datasets/cifar10/train --out /tmp/pc > pc.json

- clusters: the gallery of --test clustered afresh at --k; its purity per level.
- search: same-class precision@10 of --queries random images of --test (each query is in
  the collection, so it is left out of its own answer), for the trained network and for the
  same architecture at random initialisation.
- dedupe: --copies random images of --test get a synthetic near-duplicate each (re-encoded
  as JPEG, resized, lightly cropped, or all three) beside the original; the collection of
  originals and copies is indexed and deduplicated at each of --thresholds. A found pair is
  two images in one group; it is right when it is a copy and its original. Pairs of two
  originals are counted apart: CIFAR-10's test set holds a few real near-duplicates.
  Also with the backbone features (`--layer pool`) and at random initialisation.
- scale: index of --train (time, peak memory), then search of 1 and of --queries images
  from outside it (the command's wall time and peak memory, network loading included).

Needs Pillow (Debian's python3-pil, which python3-torchvision pulls in). Image files only:
it walks --test as root/<class>/<file>.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

from PIL import Image


def run(cmd, log):
    """Runs a protoclr command; returns (stdout, wall seconds, peak resident MiB)."""
    start = time.monotonic()
    with open(log, "a") as err:
        err.write("$ " + " ".join(cmd[:12]) + (" ..." if len(cmd) > 12 else "") + "\n")
        err.flush()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"photo_collection: exit {code} from {' '.join(cmd[:3])} ... (see {log})")
    return out, wall, usage.ru_maxrss / 1024.0


def images_of(root):
    """Sorted (class, path) of root/<class>/<file>."""
    rows = []
    for c in sorted(os.listdir(root)):
        d = os.path.join(root, c)
        if os.path.isdir(d):
            rows += [(c, os.path.join(d, f)) for f in sorted(os.listdir(d))]
    return rows


def class_of(path):
    return os.path.basename(os.path.dirname(path))


def near_duplicate(img, kind, rng):
    """A synthetic near-duplicate of img, and the JPEG quality to save it at (None: PNG)."""
    w, h = img.size
    if kind in ("crop", "all"):  # lightly cropped: 1-3 px off each side of a 32 px image (66-88% of the area)
        l, t, r, b = (rng.randint(1, max(1, w // 10)) for _ in range(4))
        img = img.crop((l, t, w - r, h - b))
    if kind in ("resize", "all"):  # resized: down to 3/4 or up to 1.5x or 2x
        s = rng.choice([0.75, 1.5, 2.0])
        img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.BICUBIC)
    if kind in ("reencode", "all"):  # re-encoded at a lower JPEG quality
        return img, rng.randint(30, 70)
    return img, None  # PNG: lossless, so the crop or resize is the only change


def make_collection(test, out, copies, rng):
    """Copies test into out with `copies` near-duplicates; returns {copy: original}."""
    if os.path.exists(out):
        shutil.rmtree(out)
    rows = images_of(test)
    for c, path in rows:
        os.makedirs(os.path.join(out, c), exist_ok=True)
        shutil.copyfile(path, os.path.join(out, c, os.path.basename(path)))
    kinds = ["reencode", "resize", "crop", "all"]
    truth = {}
    for i, (c, path) in enumerate(rng.sample(rows, copies)):
        kind = kinds[i % len(kinds)]
        with Image.open(path) as src:
            dup, quality = near_duplicate(src.convert("RGB"), kind, rng)
        stem = os.path.splitext(os.path.basename(path))[0]
        name = os.path.join(out, c, f"{stem}_copy_{kind}" + (".png" if quality is None else ".jpg"))
        if quality is None:
            dup.save(name)
        else:
            dup.save(name, quality=quality)
        truth[os.path.abspath(name)] = (os.path.abspath(os.path.join(out, c, os.path.basename(path))), kind)
    return truth


def score_groups(groups, truth):
    """Pair precision and recall of dedupe's groups against {copy: (original, kind)}."""
    right, wrong_with_copy, among_originals = 0, 0, 0
    found = {k: 0 for k in {kind for _, kind in truth.values()}}
    for g in groups:
        files = [os.path.abspath(f) for f in g["files"]]
        for i in range(len(files)):
            for j in range(i + 1, len(files)):
                a, b = files[i], files[j]
                if a in truth and truth[a][0] == b or b in truth and truth[b][0] == a:
                    right += 1
                    found[truth[a][1] if a in truth else truth[b][1]] += 1
                elif a in truth or b in truth:
                    wrong_with_copy += 1
                else:
                    among_originals += 1
    pairs = right + wrong_with_copy + among_originals
    per_kind = {k: {"found": n, "of": sum(1 for _, kind in truth.values() if kind == k)} for k, n in found.items()}
    return {
        "pairs": pairs,
        "right": right,
        "precision": right / pairs if pairs else 1.0,
        "precision_without_original_pairs": right / (right + wrong_with_copy) if right + wrong_with_copy else 1.0,
        "recall": right / len(truth),
        "pairs_among_originals": among_originals,
        "wrong_pairs_with_a_copy": wrong_with_copy,
        "recall_by_kind": per_kind,
    }


def precision_at(search_json, top):
    """Mean same-class fraction of each query's neighbours."""
    queries = json.loads(search_json)["queries"]
    per = [sum(class_of(n["path"]) == class_of(q["query"]) for n in q["neighbours"][:top]) / top for q in queries]
    return sum(per) / len(per), len(per)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protoclr", default="build/protoclr")
    ap.add_argument("--run", required=True, help="trained run folder or checkpoint")
    ap.add_argument("--test", required=True, help="labelled folder root/<class>/<image>")
    ap.add_argument("--train", help="a larger folder for the index's time and memory (optional)")
    ap.add_argument("--out", required=True, help="scratch folder (replaced)")
    ap.add_argument("--k", default="10,100")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--thresholds", default="0.8,0.85,0.9,0.92,0.94,0.95,0.96,0.97,0.98,0.985,0.99,0.993,0.995")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    log = os.path.join(a.out, "commands.log")
    open(log, "w").close()
    p = [a.protoclr]
    threads = ["--threads", str(a.threads)]
    # The same architecture untrained: the run's, or ResNet-18 at 32 px for a bare checkpoint.
    cfg = {"arch": "resnet18", "image_size": 32}
    if os.path.isdir(a.run):
        with open(os.path.join(a.run, "config.json")) as f:
            cfg = json.load(f)
    random_net = ["--random-init", "--arch", cfg["arch"], "--image-size", str(cfg["image_size"]),
                  "--seed", str(a.seed)] + (["--cifar-stem"] if cfg.get("cifar_stem") else [])
    report = {"run": a.run, "test": a.test, "seed": a.seed}

    out, wall, rss = run(p + ["clusters", a.run, "--data", a.test, "--k", a.k, "--out",
                              os.path.join(a.out, "gallery"), "--json"] + threads, log)
    g = json.loads(out)
    report["clusters"] = {"levels": g["levels"], "purity": g.get("purity"), "images": g["images"],
                          "unreadable": len(g["unreadable"]), "seconds": round(wall, 1), "peak_mib": round(rss)}

    queries = [path for _, path in rng.sample(images_of(a.test), a.queries)]
    report["search"] = {}
    for name, net in (("trained", ["--checkpoint", a.run]), ("random_init", random_net)):
        index = os.path.join(a.out, f"test-{name}.index")
        out, wall, _ = run(p + ["index"] + net + ["--data", a.test, "--out", index, "--json"] + threads, log)
        built = json.loads(out)
        out, _, _ = run(p + ["search", index] + queries + ["--top", "10", "--json"] + threads, log)
        prec, n = precision_at(out, 10)
        report["search"][name] = {"precision_at_10": round(prec, 4), "queries": n, "index_seconds": round(wall, 1),
                                  "embedded_per_second": round(built["embedded"] / built["seconds"], 1)}

    truth = make_collection(a.test, os.path.join(a.out, "collection"), a.copies, rng)
    report["dedupe"] = {"copies": len(truth), "originals": len(images_of(a.test))}
    for name, net in (("trained", ["--checkpoint", a.run]), ("trained_pool", ["--checkpoint", a.run, "--layer", "pool"]),
                      ("random_init", random_net)):
        index = os.path.join(a.out, f"dups-{name}.index")
        run(p + ["index"] + net + ["--data", os.path.join(a.out, "collection"), "--out", index, "--json"] + threads, log)
        rows = []
        for t in a.thresholds.split(","):
            out, wall, _ = run(p + ["dedupe", index, "--threshold", t, "--json"], log)
            s = score_groups(json.loads(out)["groups"], truth)
            s["threshold"] = float(t)
            s["seconds"] = round(wall, 1)
            rows.append(s)
        report["dedupe"][name] = rows

    if a.train:
        index = os.path.join(a.out, "train.index")
        out, wall, rss = run(p + ["index", "--checkpoint", a.run, "--data", a.train, "--out", index, "--json"] + threads, log)
        built = json.loads(out)
        scale = {"images": built["images"], "structure": built["structure"], "command_seconds": round(wall, 1),
                 "embed_seconds": round(built["seconds"], 1), "peak_mib": round(rss),
                 "index_bytes": sum(os.path.getsize(os.path.join(index, f)) for f in os.listdir(index)
                                    if os.path.isfile(os.path.join(index, f)))}
        for n in (1, a.queries):
            _, wall, rss = run(p + ["search", index] + queries[:n] + ["--top", "10", "--json"] + threads, log)
            scale[f"search_{n}_outside_seconds"] = round(wall, 2)
            scale[f"search_{n}_outside_peak_mib"] = round(rss)
        inside = [path for _, path in rng.sample(images_of(a.train), a.queries)]
        _, wall, rss = run(p + ["search", index] + inside + ["--top", "10", "--json"] + threads, log)
        scale[f"search_{a.queries}_inside_seconds"] = round(wall, 2)
        scale[f"search_{a.queries}_inside_peak_mib"] = round(rss)
        report["scale"] = scale

    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
