#!/usr/bin/python3
"""Prototype logits per granularity per step the way the published PCL code computes them
(as ../shared/bench/ref_pcl.py: a Python set of all K cluster ids minus the batch's, a random
sample of r of them, one gather, one matmul, a division by phi), timed at the issue's size
(K = 100,000, r = 16,000, batch 256, 128-d, 2 threads). The counterpart of the
`sampler+proto_logits` line of build/bench_estep; run both in the same sitting.

    /usr/bin/python3 bench/ref_proto_logits.py
"""
import json, random, time
import torch

torch.set_num_threads(2)
torch.manual_seed(0); random.seed(0)
K, R, B, D = 100_000, 16_000, 256, 128
centroids = torch.nn.functional.normalize(torch.randn(K, D), dim=1)
phi = 0.2 * (0.5 + torch.rand(K))
assign = torch.randint(0, K, (1_000_000,))
q = torch.nn.functional.normalize(torch.randn(B, D), dim=1)


def step():
    own = assign[torch.randint(0, len(assign), (B,))]
    pool = set(range(int(assign.max()) + 1)).difference(own.tolist())
    drawn = random.sample(sorted(pool), min(R, len(pool)))
    chosen = torch.cat([own, torch.tensor(drawn, dtype=torch.long)])
    return q @ centroids[chosen].t() / phi[chosen]


def median_ms(f, reps):
    f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[reps // 2]


cols = centroids[:B + R]
print(json.dumps({"bench": "reference proto_logits", "k": K, "r": R, "batch": B, "dim": D, "threads": 2,
                  "ms_per_granularity": round(median_ms(step, 30), 3),
                  "matmul_ms": round(median_ms(lambda: q @ cols.t(), 30), 3)}))
