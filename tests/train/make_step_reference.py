#!/usr/bin/python3
"""Three PCL training steps the published way (pcl/builder.py + main_pcl.py train(), in one
process), on fixed inputs, for tests/train/test_step_equivalence.cpp:

    make_step_reference.py OUT_DIR

writes OUT_DIR/init.pth.tar (the MoCo state before, published checkpoint layout),
OUT_DIR/after.pth.tar (after the steps) and OUT_DIR/inputs.pt: the batches (query view, key
view, dataset rows), the levels (assignments, normalised centroids, phi) and the losses.

One BatchNorm group (the key shuffle cannot change a whole-batch BN). Every id not in the
batch is a negative prototype (r >= K), so the loss does not depend on which ones a sampler
draws. SGD with momentum 0.9 and weight decay on every parameter, as torch.optim.SGD; the
momentum update of the key encoder before its forward pass; the keys enqueued after the step.
"""
import os, sys
import torch, torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import published_pcl  # noqa: E402  the published encoder, shared with bench/ref_train.py

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
B, S, D, Q, N = 8, 16, 8, 16, 24
LR, WD, MOMENTUM, M, TAU = 0.1, 0.01, 0.9, 0.9, 0.2  # wd large enough to show
LEVELS = (5, 7)


q_enc, k_enc = (published_pcl.moco_encoder("resnet18", D, mlp=True, cifar_stem=True) for _ in range(2))
k_enc.load_state_dict(q_enc.state_dict())
for w in k_enc.parameters():
    w.requires_grad = False
queue = F.normalize(torch.randn(D, Q), dim=0)
queue_ptr = 0


def state():
    s = {f"module.encoder_q.{k}": v.clone() for k, v in q_enc.state_dict().items()}
    s.update({f"module.encoder_k.{k}": v.clone() for k, v in k_enc.state_dict().items()})
    s["module.queue"] = queue.clone()
    s["module.queue_ptr"] = torch.tensor([queue_ptr])
    return {"epoch": 0, "arch": "resnet18", "state_dict": s}


torch.save(state(), os.path.join(out, "init.pth.tar"))
levels = []
for k in LEVELS:
    levels.append({"assignments": torch.randint(0, k, (N,)),
                   "centroids": F.normalize(torch.randn(k, D), dim=1),
                   "phi": torch.rand(k) * 0.2 + 0.1})
steps = [{"query": torch.randn(B, 3, S, S), "key": torch.randn(B, 3, S, S), "index": torch.randperm(N)[:B]}
         for _ in range(3)]
sgd = torch.optim.SGD(q_enc.parameters(), LR, momentum=MOMENTUM, weight_decay=WD)
q_enc.train(); k_enc.train()
losses = []
for step in steps:
    q = F.normalize(q_enc(step["query"]), dim=1)
    with torch.no_grad():
        for wq, wk in zip(q_enc.parameters(), k_enc.parameters()):
            wk.data = wk.data * M + wq.data * (1. - M)
        k = F.normalize(k_enc(step["key"]), dim=1)
    logits = torch.cat([torch.einsum("nc,nc->n", q, k).unsqueeze(-1), q @ queue], 1) / TAU
    loss = F.cross_entropy(logits, torch.zeros(B, dtype=torch.long))
    proto = 0
    for level in levels:
        pos = level["assignments"][step["index"]]
        neg = sorted(set(range(level["centroids"].shape[0])) - set(pos.tolist()))
        chosen = torch.cat([pos, torch.LongTensor(neg)])
        proto_logits = q @ level["centroids"][chosen].t() / level["phi"][chosen]
        proto = proto + F.cross_entropy(proto_logits, torch.arange(B))
    loss = loss + proto / len(levels)
    sgd.zero_grad(); loss.backward(); sgd.step()
    queue[:, queue_ptr:queue_ptr + B] = k.T
    queue_ptr = (queue_ptr + B) % Q
    losses.append(loss.item())

torch.save(state(), os.path.join(out, "after.pth.tar"))
inputs = {"losses": torch.tensor(losses, dtype=torch.float64),
          "hyper": torch.tensor([LR, WD, MOMENTUM, M, TAU], dtype=torch.float64)}
for i, step in enumerate(steps):
    inputs.update({f"step{i}_{name}": t for name, t in step.items()})
for i, level in enumerate(levels):
    inputs.update({f"level{i}_{name}": t for name, t in level.items()})
torch.save(inputs, os.path.join(out, "inputs.pt"))
