"""Labs 1-3, the graph-and-session warm-ups (constants, placeholders, variables), as eager
tensors, and Lab 8, device placement. Each line is labelled with the course's expression."""

from __future__ import annotations

import torch

from layerwise.device import describe
from layerwise.lab_options import LabOptions

MEMORY_FRACTION = 0.4  # the course's per_process_gpu_memory_fraction


def lab1(opts: LabOptions):
    node1, node2 = torch.tensor(3.0), torch.tensor(4.0)
    node3 = node1 + node2
    return [f"print(node1, node2, node3): {node1} {node2} {node3}  (eager tensors are values)",
            f"sess.run([node1, node2]): [{node1.item()}, {node2.item()}]",
            f"sess.run(node3): {node3.item()}"], {"node3": node3.item()}


def lab2(opts: LabOptions):
    def adder(a, b):
        return torch.as_tensor(a) + torch.as_tensor(b)

    r1, r2, r3 = adder(3.0, 4.5), adder([1.0, 3.0], [2.0, 4.0]), adder(3.0, 4.5) * 3.0
    return [f"adder_node {{a: 3, b: 4.5}}: {r1.item()}",
            f"adder_node {{a: [1,3], b: [2, 4]}}: {r2.tolist()}",
            f"add_and_triple {{a: 3, b: 4.5}}: {r3.item()}"], {
        "add": r1.item(), "add_vector": r2.tolist(), "add_and_triple": r3.item()}


def lab3(opts: LabOptions):
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = torch.tensor([0.0, -1.0, -2.0, -3.0])
    W, b = torch.tensor([0.3]), torch.tensor([-0.3])
    model = W * x + b
    loss = ((model - y) ** 2).sum()
    W.fill_(-1.0)
    b.fill_(1.0)
    fixed = ((W * x + b - y) ** 2).sum()
    return [f"linear_model {{x: [1,2,3,4]}}: {[round(v, 4) for v in model.tolist()]}",
            f"loss, W = .3, b = -.3: {loss.item():.4g}",
            f"loss, W = -1, b = 1 (tf.assign): {fixed.item()}"], {
        "linear_model": model.tolist(), "loss": loss.item(), "loss_fixed": fixed.item()}


def lab8(opts: LabOptions):
    """Place tensors on devices explicitly, as the course's tf.device blocks did, and cap the
    GPU memory this process may take where there is a GPU."""
    gpus = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    first = gpus[0] if gpus else torch.device("cpu")
    last = gpus[-1] if gpus else torch.device("cpu")
    a, b = torch.tensor(3.0, device=first), torch.tensor(4.0, device=first)
    c = a + b
    d, e = torch.tensor(5.0), torch.tensor(7.0)
    f = d * e
    h, g = torch.tensor(15.0, device=last), torch.tensor(97.0, device=last)
    k = h / g
    lines = [f"devices: cpu{''.join(', ' + str(gpu) for gpu in gpus)}"]
    for names, where, ts in (("a, b, c = a + b", "/gpu:1", (a, b, c)),
                             ("d, e, f = d * e", "/cpu:0", (d, e, f)),
                             ("h, g, k = h / g", "/gpu:3", (h, g, k))):
        lines.append(f"{names} (the course: {where}): on {', '.join(str(t.device) for t in ts)}")
    lines += [f"[a, b, c]: {[a.item(), b.item(), c.item()]}", f"[f]: {[f.item()]}",
              f"[k]: [{k.item():.8g}]"]
    figures = {"c": c.item(), "f": f.item(), "k": k.item(), "placement": {
        "c": str(c.device), "f": str(f.device), "k": str(k.device)}, "gpus": len(gpus),
        "memory_cap": MEMORY_FRACTION if gpus else None}
    share = f"{MEMORY_FRACTION:.0%}"
    if gpus:
        torch.cuda.set_per_process_memory_fraction(MEMORY_FRACTION, first)
        lines.append(f"GPU memory cap: {describe(first)}: this process may use {share} of its "
                     "memory (the course's per_process_gpu_memory_fraction = 0.4)")
    else:
        lines.append(f"GPU memory cap: not applied, no GPU here (on one, this process would "
                     f"be held to {share} of its memory)")
    return lines, figures
