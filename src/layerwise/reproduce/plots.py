"""The reproduce report's figures, drawn with matplotlib (Agg) as small PNGs."""

from __future__ import annotations

from pathlib import Path


def lab4(table: list, out: Path) -> Path:
    from layerwise.plots import plot

    steps = [r[0] for r in table]
    return plot(out / "lab4-convergence.png", "step", {"W": [r[1] for r in table],
                                                       "b": [r[2] for r in table]}, steps,
                "Lab 4: gradient descent to W = -1, b = 1", "value",
                right={"loss": [max(r[3], 1e-12) for r in table]}, right_label="loss")


def curves(h6: list[dict], h7: list[dict], out: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, hist, title in ((axes[0], h6, "Lab 6 softmax"), (axes[1], h7, "Lab 7 deepnn")):
        steps = [r["step"] for r in hist]
        ax.plot(steps, [r["train_loss"] for r in hist], label="train loss")
        if hist and "val_loss" in hist[0]:
            ax.plot(steps, [r["val_loss"] for r in hist], label="validation loss")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
    return save(fig, out / "learning-curves.png")


def hardware(course: tuple, seconds: float, here: str, projected: bool, out: Path) -> Path:
    plt = pyplot()
    names = [n for n, _ in course] + [here + (" (projected)" if projected else "")]
    values = [v for _, v in course] + [seconds]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(names, values, color=["#888", "#888", "#2a7"])
    ax.set_xlabel("seconds for the 20,000-step deepnn recipe")
    ax.set_title("The course's hardware table, with this machine")
    return save(fig, out / "hardware.png")


def speedup(measured: list, projected: list, out: Path) -> Path:
    plt = pyplot()
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
    return save(fig, out / "speedup.png")


def comm(table: dict, out: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for (vis, prec), mbs in table.items():
        ax.plot([2, 4, 8], mbs, marker="o", label=f"{vis} {prec}")
    ax.set_xlabel("machines K")
    ax.set_ylabel("MB per epoch, all machines")
    ax.set_title("The report's Table 4.1 (reproduced exactly by rbm comm-table)")
    ax.legend()
    return save(fig, out / "comm-table.png")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    pyplot().close(fig)
    return path
