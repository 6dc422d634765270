"""The reproduce report's figures, drawn with matplotlib (Agg) as small PNGs."""

from __future__ import annotations

from pathlib import Path


def lab4(table: list, out: Path, final: tuple | None = None) -> Path:
    """W, b and the loss (log axis: it falls to 1e-11) against step, as `layerwise lab 4
    --plots` draws them (layerwise.labs.plots.convergence)."""
    from layerwise.labs.plots import convergence

    return convergence(table, out / "lab4-convergence.png", final)


def curves(h6: list[dict], h7: list[dict], out: Path,
           titles: tuple[str, str] = ("Lab 6 softmax", "Lab 7 deepnn")) -> Path:
    """Both labs' training and validation loss against step: markers on every evaluation (a
    run of one evaluation is one visible point), the step axis from 0 to the run's last step."""
    from layerwise.plots import spans_decades

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), layout="constrained")
    for ax, hist, title in zip(axes, (h6, h7), titles, strict=True):
        steps = [r["step"] for r in hist]
        losses = [r["train_loss"] for r in hist]
        ax.plot(steps, losses, marker="o", label="training loss (mean since the last point)")
        if hist and "val_loss" in hist[0]:
            losses += [r["val_loss"] for r in hist]
            ax.plot(steps, [r["val_loss"] for r in hist], marker="s",
                    label="validation loss")
        ax.set_xlim(0, max(steps, default=1) * 1.05)
        log = spans_decades(losses)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"{title}: {len(hist)} evaluation{'s' * (len(hist) != 1)}", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("cross-entropy loss" + (" (log scale)" if log else ""))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return save(fig, out / "learning-curves.png", tight=False)


def hardware(course: tuple, seconds: float, here: str, out: Path) -> Path:
    """The course's hardware table for the Lab 7 recipe, every row (those that ran out of
    memory say so), with this machine's row under the label `here`, on a log axis: the rows
    span 132 s to 6,162 s."""
    plt = pyplot()
    names = [name for name, _ in course] + [here]
    values = [v for _, v in course] + [seconds]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(names) + 1.4), layout="constrained")
    y = range(len(names))
    ax.barh(y, [v or 0 for v in values], color=["#888"] * len(course) + ["#2a7"])
    ax.set_yticks(list(y), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(50, max(v for v in values if v) * 4)
    for k, v in enumerate(values):
        ax.text(v * 1.08 if v else 55, k, f"{v:,.0f} s" if v else "out of memory (no time)",
                va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds for the 20,000-step deepnn recipe (log scale)")
    fig.suptitle("The course's hardware table for Lab 7 (deepnn, Adam 1e-4, 20,000 steps of "
                 "50),\nevery row, with this machine", fontsize=10)  # centred over the names too
    return save(fig, out / "hardware.png", tight=False)


def speedup(measured: dict | None, projected: list, out: Path) -> Path:
    """Speed-up over one rank against K: this machine's measured runs (`measured`: visible,
    hidden, examples, batch, threads and epoch seconds per K), the model's projection of the
    report's 8000 x 20000 problem where a `bench links` report calibrated it, and the ideal
    5K/7 (one machine computes five V x H products per batch, K machines seven over K)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    ks, parts = {1}, []
    if measured:
        times = measured["epoch_seconds"]
        k_run = sorted(times)
        ks |= set(k_run)
        ax.plot(k_run, [times[1] / times[k] for k in k_run], marker="o",
                label=f"measured here, {measured['threads_per_rank']} thread(s) per rank")
        parts.append(f"measured {measured['visible']:,} x {measured['hidden']:,} "
                     f"({measured['examples']:,} examples, batch {measured['batch']})")
    rows = [r for r in projected if r.measured is not None]
    if rows:
        k_proj = [int(r.quantity.split("K=")[1].split(",")[0]) for r in rows]
        ks |= set(k_proj)
        ax.plot([1] + k_proj, [1.0] + [r.measured for r in rows], marker="^", linestyle=":",
                label="projected 8,000 x 20,000, this CPU, 1 Gbit/s (a model)")
        parts.append("projected 8,000 x 20,000")
    k_all = sorted(ks)
    ax.plot(k_all, [ideal_over_one(k) for k in k_all], "-", color="#bbb", linewidth=4,
            zorder=1, label="ideal: 5K/7 over one rank (K >= 2)")
    ax.set_yscale("log", base=2)  # K = 2 and K = 64 on one plot
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    if not parts:
        parts.append("not run (one core here, and no bench links report)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(k_all, [str(k) for k in k_all])
    ax.set_xlabel("ranks (machines) K")
    ax.set_ylabel("speed-up over one rank (epoch time ratio, log scale)")
    ax.set_title("Model-parallel CD-1: " + "; ".join(parts), fontsize=9)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return save(fig, out / "speedup.png", tight=False)


def ideal_over_one(k: int) -> float:
    """The ideal speed-up of K ranks over one: 1 at K = 1, else 5K/7 (the report's count of
    V x H products: five per batch on one machine, seven split K ways on K)."""
    return 1.0 if k == 1 else 5 * k / 7


def comm(table: dict, out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for (vis, prec), mbs in table.items():
        ax.plot([2, 4, 8], mbs, marker="o", label=f"{vis} visible units, {prec}")
    ax.set_xticks([2, 4, 8])
    ax.set_xlabel("machines K")
    ax.set_ylabel("MB (10^6 bytes) per epoch, all machines")
    ax.set_title("The report's Table 4.1: V 8,000, H 20,000, 8,000 examples, batch 1,000\n"
                 "(reproduced exactly by layerwise rbm comm-table)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return save(fig, out / "comm-table.png", tight=False)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path, tight: bool = True) -> Path:
    if tight:  # figures laid out by layout="constrained" need no second pass
        fig.tight_layout()
    fig.savefig(path, dpi=80)
    pyplot().close(fig)
    return path
