"""The report's figures: Table 4.1 and its inequality, the CIFAR-10 table, the measured
speed-ups, the weight-synchronisation drift, the projection for K = 2..64, an RBM's filters."""

from __future__ import annotations

import json
from pathlib import Path

from layerwise.reproduce import Plan, Row
from layerwise.reproduce import plots as draw
from layerwise.reproduce import say as _say

CIFAR_TABLE = (("net1", 71.81, 193_034), ("net2", 67.07, 686_090), ("net3", 71.37, 1_055_466))
# The report's Table 4.1, MB per epoch by all machines (V 8,000, H 20,000, N 8,000).
COMM_TABLE = {("binary", "float32"): (48, 144, 336), ("gaussian", "float32"): (296, 888, 2072),
              ("gaussian", "float64"): (552, 1656, 3864)}



def run(plan: Plan, out: Path, progress: bool = True) -> tuple[list[Row], list[Path]]:
    from layerwise.nn.models import ModelConfig, build_model
    from layerwise.rbm import comm

    rows, plots = [], []
    p = comm.Problem(8000, 20000, 8000, 1000)
    _say(progress, "report: the communication table")
    for (vis, prec), printed in COMM_TABLE.items():
        for K, mb in zip((2, 4, 8), printed, strict=True):
            got = comm.epoch_bytes(p, "model", K, vis, prec) / 1e6
            rows.append(Row("report", "Table 4.1", f"MB per epoch, {vis} {prec}, K={K}", mb,
                            got, "MB", "exact" if round(got) == mb else "differs",
                            "layerwise rbm comm-table"))
    plots.append(draw.comm(COMM_TABLE, out))
    for K in (2, 4, 8):
        q = comm.inequality(p, K)
        rows.append(Row("report", "Inequality (section 4)",
                        f"m h K + 4 m v K >= 4 v h at K={K}, m 1000",
                        "when it holds, synchronise the weights after every update instead",
                        f"{q['lhs']:,} {'>=' if q['holds'] else '<'} {q['rhs']:,}", "",
                        "measured", "layerwise rbm comm-table --batch-size 1000",
                        "holds" if q["holds"] else "does not hold"))

    _say(progress, "report: CIFAR-10 architectures")
    from layerwise.data.resolve import locate
    try:
        locate("cifar-10", offline=True)
        have_cifar = True
    except Exception:
        have_cifar = False
    for name, acc, params in CIFAR_TABLE:
        count = sum(q.numel() for q in build_model(ModelConfig(name, (3, 32, 32), 10))
                    .parameters())
        rows.append(Row("report", "Table 1 (CIFAR-10)", f"{name} parameters", params, count, "",
                        "exact" if count == params else "differs",
                        f"layerwise train {name} --dataset cifar-10"))
        rows.append(Row("report", "Table 1 (CIFAR-10)", f"{name} test accuracy", acc,
                        None, "%", "not run" if not have_cifar else "not run",
                        f"layerwise train {name} --dataset cifar-10 --epochs 20",
                        "no CIFAR-10 copy here (layerwise data fetch cifar-10 where its host "
                        "can be reached)" if not have_cifar else
                        "CIFAR-10 is here; train with the command (hours on 2 cores)"))

    _say(progress, "report: model-parallel CD-1 on the ranks this machine has")
    speedups, measured = _speedups(plan, progress)
    projected = _projection(out)
    rows += speedups + _drift(plan) + projected
    plots.append(draw.speedup(measured, projected, out))
    _say(progress, "report: an RBM's filters and samples")
    path, row = _rbm_figure(plan, out)
    plots.append(path)
    rows.append(row)
    return rows, plots


def _speedups(plan: Plan, progress: bool) -> tuple[list[Row], dict | None]:
    """The Figure 4.6 rows, and what the speed-up plot draws: the problem run (visible,
    hidden, examples, batch, threads per rank) and its epoch seconds per rank count."""
    import os

    from layerwise.bench import distributed

    size = {"full": (8000, 20000, 1000), "quick": (8000, 20000, 200),
            "tiny": (200, 400, 200)}[plan.mode]
    V, H, N = size
    cores = len(os.sched_getaffinity(0))
    ks = [k for k in (1, 2, 4, 8) if k <= cores] or [1]
    if len(ks) < 2:
        return [Row("report", "Figure 4.6", "speed-up 1 -> 2 ranks", "about 2 for K -> 2K",
                    None, "x", "not run", "layerwise bench rbm-parallel",
                    "this machine has one core")], None
    res = distributed.rbm_parallel(N, V, H, [100], ["float32"], ["binary"], cores, ks,
                                   progress=progress)
    rows = []
    measured = {"visible": V, "hidden": H, "examples": N, "batch": 100,
                "threads_per_rank": res["rows"][0]["threads_per_rank"],
                "epoch_seconds": {r["ranks"]: r["epoch_seconds"] for r in res["rows"]}}
    for r in res["rows"]:
        if "speedup_to_2k" in r:
            rows.append(Row("report", "Figure 4.6",
                            f"speed-up {r['ranks']} -> {2 * r['ranks']} ranks, {V} x {H} binary, "
                            "batch 100", "about 2 for K -> 2K (K >= 2)", r["speedup_to_2k"],
                            "x", plan.mark or "measured",
                            "layerwise bench rbm-parallel --precisions float32 "
                            "--visible-types binary --batch-sizes 100",
                            f"ideal here {r['ideal_speedup_to_2k']:.2f} (one rank computes the "
                            f"weight statistics once, two ranks twice); {N} examples, "
                            f"{r['threads_per_rank']} thread(s) per rank"))
    return rows, measured


def _drift(plan: Plan) -> list[Row]:
    from layerwise.bench.distributed import run_job

    n = 400 if plan.mode == "tiny" else 2000
    fig = run_job(2, 1, ["rbm", "train", "--parallel", "model", "--visible", "gaussian",
                         "--dtype", "float64", "--dataset", f"random-binary:n={n},visible=80",
                         "--hidden", "120", "--batch-size", "20", "--sync-every", "10",
                         "--epochs", "2", "--val-size", "0", "--device", "cpu"])
    drift = max(fig["sync_drift"]) if fig["sync_drift"] else None
    return [Row("report", "Weight synchronisation", "largest drift a synchronisation removed "
                "(Gaussian, float64)", 1e-9, drift, "", "agrees" if drift is not None and
                drift <= 1e-9 else "differs",
                "layerwise launch --nproc-per-node 2 -- rbm train --parallel model --visible "
                "gaussian --dtype float64 --sync-every 10",
                f"{len(fig['sync_drift'])} synchronisations on 2 ranks, 80 x 120")]


def _projection(out: Path) -> list[Row]:
    path = Path("bench-results/links.json")
    if not path.is_file():
        return [Row("report", "Speed-up, K = 2..64", "projected speed-up", "about 2 for K -> 2K",
                    None, "x", "not run", "layerwise bench links && layerwise rbm projection",
                    "needs a `bench links` report (two simulated hosts, root)")]
    from layerwise.rbm import projection
    from layerwise.rbm.comm import Problem

    rep = json.loads(path.read_text())
    cpu = projection.Machine("this CPU", projection.calibrate(rep), True)
    rows = []
    for r in projection.project(Problem(8000, 20000, 8000, 1000), cpu, 1e9, 0.091e-3,
                                [2, 4, 8, 16, 32, 64]):
        rows.append(Row("report", "Speed-up, K = 2..64 (a model)",
                        f"speed-up over one machine, K={r['ranks']}, 1 Gbit/s",
                        "about 2 for K -> 2K", r["speedup"], "x", "projected",
                        "layerwise rbm projection",
                        f"ideal {r['ideal']:.2f}; calibrated on {path}"))
    return rows


CHAIN_STEPS = (0, 1, 3, 10, 30, 100, 300, 1000)  # the columns of the chains figure


def _rbm_figure(plan: Plan, out: Path) -> tuple[Path, Row]:
    """Filters of an RBM trained on MNIST digits, and Gibbs chains of it started from ten test
    digits (one per class), shown after CHAIN_STEPS steps: a row per chain, a column per step
    count, so whether the chains move, and whether they stay apart, can be seen."""
    import torch

    from layerwise import CDConfig, RBMConfig, RunConfig, fit_rbm
    from layerwise.data.datasets import load_dataset
    from layerwise.rbm.images import chain_grid, filter_grid, gibbs_chains

    # Sizes whose chains from data still differ after 1,000 steps: a CD-1 RBM trained longer
    # draws every chain to near-blank images (its model puts mass there), so the full run's
    # RBM learns by PCD, whose negative chains keep it from doing so.
    epochs, hidden, pcd = {"full": (20, 500, True), "quick": (5, 500, False),
                           "tiny": (3, 200, False)}[plan.mode]
    res = fit_rbm(RBMConfig(n_hidden=hidden), "mnist-10k",
                  CDConfig(epochs=epochs, persistent=pcd),
                  RunConfig(device=plan.device, val_size=0), progress=False)
    rbm = res.rbm.cpu()
    test = load_dataset("mnist-10k", val_size=0, progress=False).test
    first = [int((test.y == c).nonzero()[0]) for c in range(10)]  # one digit per class
    start = res.preprocessing(test.x[first], rbm.W.dtype)
    frames = gibbs_chains(rbm, start, list(CHAIN_STEPS), torch.Generator().manual_seed(0))
    last = frames[:, -1]  # (10, V)
    spread = float(last.std(0).mean())  # 0 when every chain ended on the same image
    plt = draw.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.2), width_ratios=(1, 0.85),
                             layout="constrained")
    axes[0].imshow(filter_grid(rbm.W, 100).numpy(), cmap="gray")
    axes[0].set_title(f"{min(hidden, 100)} of its {hidden} hidden units' filters (W[:, j], "
                      "each on its own grey scale)", fontsize=9)
    axes[1].imshow(chain_grid(frames, res.preprocessing).numpy(), cmap="gray", vmin=0, vmax=1)
    side = 29  # 28 pixels and the grid's line
    axes[1].set_xticks([side * k + 15 for k in range(len(CHAIN_STEPS))],
                       [f"{t:,}" for t in CHAIN_STEPS], fontsize=8)
    axes[1].set_yticks([side * k + 15 for k in range(10)], [str(c) for c in range(10)],
                       fontsize=8)
    axes[1].set_xlabel("Gibbs steps (E[v | h] shown; step 0 is the test digit)", fontsize=9)
    axes[1].set_ylabel("chain (started from a test digit of this class)", fontsize=9)
    axes[1].set_title(f"10 chains; mean per-pixel spread between them at step "
                      f"{CHAIN_STEPS[-1]:,}: {spread:.3f}", fontsize=9)
    axes[0].axis("off")
    fig.suptitle(f"RBM 784 x {hidden}, {'PCD-1' if pcd else 'CD-1'}, {epochs} epoch(s) on "
                 "mnist-10k")
    row = Row("report", "RBM filters and samples", "mean per-pixel spread between 10 Gibbs "
              f"chains from test digits after {CHAIN_STEPS[-1]:,} steps",
              "figures lost in the conversion (captions only)", spread, "",
              plan.tiny_mark or "measured", "layerwise rbm sample --from-data --steps 1000",
              "0 would mean every chain ended on the same image (not mixing between modes)")
    return draw.save(fig, out / "rbm-filters-samples.png", tight=False), row
