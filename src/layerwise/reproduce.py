"""Every figure of both documents that can be re-run here, printed value beside measured one.

`reproduce("course" | "report" | "all", out)` runs the course's labs and the report's tables on
the public API and writes `out/REPORT.md`, `out/results.json` (one row per figure: document,
section, quantity, printed value, measured value, unit, verdict, the command that re-runs it)
and PNG plots. `quick` shortens the long runs (every such row says so); `tiny` runs everything
in seconds, for tests. Verdicts: `agrees` (within the tolerance the row names), `differs`,
`exact`, `measured` (no printed figure to compare with: the printed column says what stands
there), `quick`/`tiny` (a shortened run, not comparable), `projected` (a model), `not run`
(what it needs is missing; the row says what and how to run it).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from layerwise.errors import ConfigError
from layerwise.progress import stream

DOCUMENTS = ("course", "report", "all")
COURSE_HARDWARE = (("P100 GPU (course)", 132.0), ("28 CPU cores (course)", 1308.0))
CIFAR_TABLE = (("net1", 71.81, 193_034), ("net2", 67.07, 686_090), ("net3", 71.37, 1_055_466))
# The report's Table 4.1, MB per epoch by all machines (V 8,000, H 20,000, N 8,000).
COMM_TABLE = {("binary", "float32"): (48, 144, 336), ("gaussian", "float32"): (296, 888, 2072),
              ("gaussian", "float64"): (552, 1656, 3864)}


@dataclass
class Row:
    document: str
    section: str
    quantity: str
    printed: object
    measured: object
    unit: str
    verdict: str
    command: str
    note: str = ""


@dataclass
class Plan:
    """How long each run is: the full recipe, `quick` (about 15 minutes on 2 cores) or `tiny`
    (seconds, for tests)."""

    mode: str = "full"
    device: str = "cpu"
    dataset: str | None = None  # None: mnist where its files are present, else mnist-10k

    @property
    def lab7_steps(self) -> int:
        return {"full": 20000, "quick": 2000, "tiny": 20}[self.mode]

    @property
    def mark(self) -> str | None:
        """The verdict of a run this plan shortens (None: the full recipe)."""
        return None if self.mode == "full" else self.mode

    @property
    def tiny_mark(self) -> str | None:
        """The verdict of a run only the tiny plan shortens (quick runs it whole)."""
        return "tiny" if self.mode == "tiny" else None


def _say(progress: bool, line: str) -> None:
    if progress:
        print(line, file=stream(), flush=True)


def _mnist_or_10k(plan: Plan) -> tuple[str, str]:
    """The dataset for Labs 6 and 7 and why."""
    if plan.dataset:
        return plan.dataset, "as asked"
    from layerwise.data.resolve import locate

    try:
        locate("mnist", offline=True)
        return "mnist", "full MNIST (55,000 / 5,000 / 10,000)"
    except Exception:  # not present: the embedded 10,000 digits
        return "mnist-10k", "mnist-10k: full MNIST is not here (layerwise data import mnist)"


def course(plan: Plan, out: Path, progress: bool = True) -> tuple[list[Row], list[Path]]:
    from layerwise import RunConfig, fit
    from layerwise.labs import COURSE, LabOptions, lab4, lab5, lab9
    from layerwise.nn.models import ModelConfig
    from layerwise.train.trainer import TrainConfig

    rows, plots = [], []
    _say(progress, "course: Lab 4, linear regression by gradient descent")
    _, f4 = lab4(LabOptions(progress=False))
    for name, printed in COURSE[4]:
        tol = 1e-4 if name != "loss" else 1e-8
        rows.append(Row("course", "Lab 4", name, printed, f4[name], "", "agrees" if
                        abs(f4[name] - printed) <= tol else "differs", "layerwise lab 4",
                        f"within {tol:g}"))
    plots.append(_plot_lab4(f4["table"], out))
    _say(progress, "course: Lab 5, the estimator with separate train and eval loss")
    _, f5 = lab5(LabOptions(progress=False, steps=100 if plan.mode == "tiny" else None))
    rows.append(Row("course", "Lab 5", "training loss after 1,000 steps", 6.28759e-07,
                    f5["train_loss"], "", plan.tiny_mark or "measured", "layerwise lab 5",
                    "printed: TensorFlow's LinearRegressor's loss for its final step (its own "
                    "optimiser and loss scaling, so the figures are not expected to match)"))
    rows.append(Row("course", "Lab 5", "evaluation loss on the separate points",
                    "not printed (the course shows the call only)", f5["eval_loss"], "",
                    plan.tiny_mark or "measured", "layerwise lab 5"))

    dataset, why = _mnist_or_10k(plan)
    run = RunConfig(device=plan.device, logdir=str(out / "tensorboard" / "lab6"))
    _say(progress, f"course: Lab 6, softmax regression on {dataset}")
    steps6 = 1000 if plan.mode != "tiny" else 50
    r6 = fit(ModelConfig("softmax"), dataset, TrainConfig(optimizer="sgd", lr=0.5,
                                                          batch_size=100, steps=steps6,
                                                          eval_every=steps6 // 10), run,
             progress=False)
    rows.append(Row("course", "Lab 6", "test accuracy", 0.92, r6.test_accuracy, "",
                    plan.tiny_mark or ("agrees" if round(r6.test_accuracy, 2) >= 0.92
                                       else "differs"), f"layerwise lab 6 --dataset {dataset}",
                    f"{why}; the course printed 92 %, compared rounded to 2 places"))
    events = sorted(p.parent.name for p in (out / "tensorboard" / "lab6").rglob("events.*"))
    rows.append(Row("course", "TensorBoard", "event files of Lab 6 (train and test writers)",
                    "train/, test/", ", ".join(f"{e}/" for e in events), "",
                    "agrees" if {"train", "test"} <= set(events) else "differs",
                    f"layerwise train softmax --dataset {dataset} --logdir runs/lab6"))

    _say(progress, f"course: Lab 7, deepnn, {plan.lab7_steps} steps on {dataset} "
                   "(the longest part)")
    r7 = fit(ModelConfig("deepnn"), dataset,
             TrainConfig(optimizer="adam", lr=1e-4, batch_size=50, steps=plan.lab7_steps,
                         eval_every=plan.lab7_steps if plan.mode == "tiny" else
                         max(1, plan.lab7_steps // 20)),
             RunConfig(device=plan.device), progress=progress)
    rows.append(Row("course", "Lab 7", "test accuracy", 0.992, r7.test_accuracy, "",
                    _verdict(plan, r7.test_accuracy >= 0.992, "differs"),
                    f"layerwise lab 7 --dataset {dataset}" + (
                        f" --steps {plan.lab7_steps}" if plan.mark else ""),
                    f"{why}; {plan.lab7_steps} of the course's 20,000 steps"))
    per_step = r7.train_seconds / r7.steps
    seconds = per_step * 20000
    here = f"this machine ({r7.to_dict()['device']})"
    how = f"projected from {r7.steps} timed steps" if r7.steps < 20000 else "measured"
    for name, printed in COURSE_HARDWARE:
        rows.append(Row("course", "Lab 7 hardware table", f"seconds for 20,000 steps, {name}",
                        printed, seconds, "s", "projected" if r7.steps < 20000 else "measured",
                        f"layerwise lab 7 --dataset {dataset}",
                        f"{here}: {how}"))
    plots.append(_plot_curves(r6.history, r7.history, out))
    plots.append(_plot_hardware(seconds, here, r7.steps < 20000, out))

    _say(progress, "course: Lab 9, save, restore and transfer")
    _, f9 = lab9(LabOptions(dataset=dataset, steps=30 if plan.mode == "tiny" else 300,
                            device=plan.device, progress=False))
    rows.append(Row("course", "Lab 9", "accuracy after save and restore", f9["first_accuracy"],
                    f9["restored_accuracy"], "", "exact" if f9["restored_accuracy"] ==
                    f9["first_accuracy"] else "differs", f"layerwise lab 9 --dataset {dataset}",
                    "printed: the accuracy before saving, measured here in the same run"))
    rows.append(Row("course", "Lab 9", "digits 5-9, convolutions frozen vs from scratch",
                    f9["scratch_accuracy"], f9["test_accuracy"], "",
                    plan.tiny_mark or "measured",
                    f"layerwise lab 9 --dataset {dataset}",
                    "printed: from scratch in the same run (the course gives no figure)"))
    return rows, plots


def _verdict(plan: Plan, ok: bool, bad: str) -> str:
    if plan.mark:
        return plan.mark
    return "agrees" if ok else bad


def report(plan: Plan, out: Path, progress: bool = True) -> tuple[list[Row], list[Path]]:
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
    plots.append(_plot_comm(out))
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
    plots.append(_plot_speedup(speedups, projected, out))
    _say(progress, "report: an RBM's filters and samples")
    plots.append(_plot_rbm(plan, out))
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


def reproduce(what: str, out: str | Path, quick: bool = False, tiny: bool = False,
              device: str = "cpu", dataset: str | None = None,
              progress: bool = True) -> list[Row]:
    """Run `what` (course, report or all), write REPORT.md, results.json and plots to `out`."""
    if what not in DOCUMENTS:
        raise ConfigError(f"reproduce course, report or all, not {what!r}.")
    plan = Plan("tiny" if tiny else "quick" if quick else "full", device, dataset)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory.")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows, plots = [], []
    for doc, fn in (("course", course), ("report", report)):
        if what in (doc, "all"):
            r, p = fn(plan, out, progress)
            rows += r
            plots += p
    _write(rows, plots, plan, out, time.perf_counter() - start)
    return rows


def _write(rows: list[Row], plots: list[Path], plan: Plan, out: Path, seconds: float) -> None:
    from layerwise.bench.harness import cpu_line, environment
    from layerwise.data.files import atomic_write_bytes
    from layerwise.device import resolve_device

    env = environment(resolve_device(plan.device))
    data = {"mode": plan.mode, "seconds": seconds, "environment": env,
            "rows": [dataclasses.asdict(r) for r in rows], "plots": [p.name for p in plots]}
    atomic_write_bytes(out / "results.json", (json.dumps(data, indent=1, default=str)
                                              + "\n").encode())
    md = [f"# layerwise reproduce ({plan.mode})", "",
          f"{cpu_line(env)}; torch {env['torch']}; revision {env['revision']}; "
          f"{seconds / 60:.1f} minutes.", ""]
    for doc in ("course", "report"):
        mine = [r for r in rows if r.document == doc]
        if not mine:
            continue
        md += [f"## The {doc}", "", "| section | quantity | printed | measured | verdict | "
               "command | note |", "|---|---|---|---|---|---|---|"]
        md += [f"| {r.section} | {r.quantity} | {_fmt(r.printed, r.unit)} | "
               f"{_fmt(r.measured, r.unit)} | {r.verdict} | `{r.command}` | {r.note} |"
               for r in mine]
        md.append("")
    md += [f"![{p.stem}]({p.name})" for p in plots]
    atomic_write_bytes(out / "REPORT.md", ("\n".join(md) + "\n").encode())


def _fmt(v, unit: str) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) or (abs(v) < 1e15 and v == int(v)):
        return f"{int(v):,} {unit}".strip()
    text = f"{v:,.1f}" if abs(v) >= 100 else f"{v:.8g}"
    return f"{text} {unit}".strip()


def _plot_lab4(table: list, out: Path) -> Path:
    from layerwise.train.curves import plot

    steps = [r[0] for r in table]
    return plot(out / "lab4-convergence.png", "step", {"W": [r[1] for r in table],
                                                       "b": [r[2] for r in table]}, steps,
                "Lab 4: gradient descent to W = -1, b = 1", "value",
                right={"loss": [max(r[3], 1e-12) for r in table]}, right_label="loss")


def _plot_curves(h6: list[dict], h7: list[dict], out: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, hist, title in ((axes[0], h6, "Lab 6 softmax"), (axes[1], h7, "Lab 7 deepnn")):
        steps = [r["step"] for r in hist]
        ax.plot(steps, [r["train_loss"] for r in hist], label="train loss")
        if hist and "val_loss" in hist[0]:
            ax.plot(steps, [r["val_loss"] for r in hist], label="validation loss")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
    return _save(fig, out / "learning-curves.png")


def _plot_hardware(seconds: float, here: str, projected: bool, out: Path) -> Path:
    plt = _pyplot()
    names = [n for n, _ in COURSE_HARDWARE] + [here + (" (projected)" if projected else "")]
    values = [v for _, v in COURSE_HARDWARE] + [seconds]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(names, values, color=["#888", "#888", "#2a7"])
    ax.set_xlabel("seconds for the 20,000-step deepnn recipe")
    ax.set_title("The course's hardware table, with this machine")
    return _save(fig, out / "hardware.png")


def _plot_speedup(measured: list[Row], projected: list[Row], out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ks = [int(r.quantity.split("K=")[1].split(",")[0]) for r in projected
          if r.measured is not None]
    if ks:
        ax.plot(ks, [r.measured for r in projected if r.measured is not None], marker="o",
                label="projected, this CPU, 1 Gbit/s (a model)")
        ax.plot(ks, [k * 5 / 7 for k in ks], "--", label="ideal 5K/7 over one machine")
    for r in measured:
        if r.measured is not None:
            k = int(r.quantity.split(" -> ")[1].split()[0])
            ax.plot([k], [r.measured], "s", label=f"measured {r.quantity.split(',')[0]} "
                                                   f"({r.verdict})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("machines K")
    ax.set_ylabel("speed-up")
    ax.set_title("Model-parallel CD-1, 8000 x 20000")
    ax.legend(fontsize=7)
    return _save(fig, out / "speedup.png")


def _plot_rbm(plan: Plan, out: Path) -> Path:
    """Filters and Gibbs samples of an RBM trained on MNIST digits (as the report shows)."""
    import torch

    from layerwise import CDConfig, RBMConfig, RunConfig, train_rbm
    from layerwise.rbm.images import filter_grid, gibbs_samples, sample_grid, tile

    epochs, hidden = {"full": (20, 500), "quick": (5, 500), "tiny": (1, 64)}[plan.mode]
    res = train_rbm("mnist-10k", RBMConfig(n_hidden=hidden), CDConfig(epochs=epochs),
                    RunConfig(device=plan.device, val_size=0), progress=False)
    rbm = res.rbm.cpu()
    samples = gibbs_samples(rbm, 36, 1000, torch.Generator().manual_seed(0))
    plt = _pyplot()
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
    return _save(fig, out / "rbm-filters-samples.png")


def _plot_comm(out: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for (vis, prec), mbs in COMM_TABLE.items():
        ax.plot([2, 4, 8], mbs, marker="o", label=f"{vis} {prec}")
    ax.set_xlabel("machines K")
    ax.set_ylabel("MB per epoch, all machines")
    ax.set_title("The report's Table 4.1 (reproduced exactly by rbm comm-table)")
    ax.legend()
    return _save(fig, out / "comm-table.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    _pyplot().close(fig)
    return path
