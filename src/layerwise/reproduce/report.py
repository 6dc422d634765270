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
    speedups = _speedups(plan, progress)
    projected = _projection(out)
    rows += speedups + _drift(plan) + projected
    plots.append(draw.speedup(speedups, projected, out))
    _say(progress, "report: an RBM's filters and samples")
    plots.append(_rbm_figure(plan, out))
    return rows, plots


def _speedups(plan: Plan, progress: bool) -> list[Row]:
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
                    "this machine has one core")]
    res = distributed.rbm_parallel(N, V, H, [100], ["float32"], ["binary"], cores, ks,
                                   progress=progress)
    rows = []
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
    return rows


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


def _rbm_figure(plan: Plan, out: Path) -> Path:
    """Filters and Gibbs samples of an RBM trained on MNIST digits (as the report shows)."""
    import torch

    from layerwise import CDConfig, RBMConfig, RunConfig, fit_rbm
    from layerwise.rbm.images import filter_grid, gibbs_samples, sample_grid, tile

    epochs, hidden = {"full": (20, 500), "quick": (5, 500), "tiny": (1, 64)}[plan.mode]
    res = fit_rbm(RBMConfig(n_hidden=hidden), "mnist-10k", CDConfig(epochs=epochs),
                    RunConfig(device=plan.device, val_size=0), progress=False)
    rbm = res.rbm.cpu()
    samples = gibbs_samples(rbm, 36, 1000, torch.Generator().manual_seed(0))
    plt = draw.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    panels = ((axes[0], filter_grid(rbm.W, 100),
               f"{min(hidden, 100)} of its {hidden} hidden units' filters"),
              (axes[1], sample_grid(samples, res.preprocessing),
               "samples after 1,000 Gibbs steps"))
    for ax, grid, title in panels:
        ax.imshow((grid if grid is not None else tile(rbm.W.T[:100])).numpy(), cmap="gray")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"RBM, CD-1, {epochs} epoch(s) on mnist-10k")
    return draw.save(fig, out / "rbm-filters-samples.png")


