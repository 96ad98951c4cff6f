#!/usr/bin/python3
"""The published E-step (bench/published_pcl.py: main_pcl.py's run_kmeans, faiss Clustering,
niter 20, nredo 5, 10 to 1000 points per centroid, phi with Python loops) on fixed features, for
tests/cluster/test_e_step_equivalence.cpp:

    make_e_step_reference.py OUT_DIR

OUT_DIR/features.f32 [N, D], then per level m (seed m, K from KS):
assign{m}.i64 [N], centroids{m}.f32 [K, D] (normalised), phi{m}.f32 [K]. Raw little-endian.
"""
import os, sys
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import published_pcl  # noqa: E402  the published run_kmeans, shared with bench/ref_train.py

N, D, KS, TAU = 3000, 16, (20, 60), 0.2
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
# Unit vectors around 30 directions of unequal spread, so clusters differ in size and phi.
centres = rng.standard_normal((30, D))
members = rng.integers(0, 30, N)
x = centres[members] + rng.standard_normal((N, D)) * (0.2 + 0.6 * (members % 3))[:, None]
x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
x.tofile(os.path.join(out, "features.f32"))
for m, level in enumerate(published_pcl.run_kmeans(x, KS, TAU, seeds=range(len(KS)))):
    level["im2cluster"].tofile(os.path.join(out, f"assign{m}.i64"))
    level["centroids"].astype(np.float32).tofile(os.path.join(out, f"centroids{m}.f32"))
    level["density"].astype(np.float32).tofile(os.path.join(out, f"phi{m}.f32"))
