"""CSV tables and line plots (PNG) that every workload writes: learning curves, RBM measures,
benchmark scaling. Files are written atomically (`data.files.atomic_output`)."""

from __future__ import annotations

import csv
from pathlib import Path

from layerwise.data.files import atomic_output


def write_csv(path: Path, rows: list[dict]) -> Path:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_output(path) as raw:
        text = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
        raw.write(("\n".join(text) + "\n").encode())
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def plot(path: Path, x: str, series: dict[str, list], xs: list, title: str, ylabel: str,
         log_x: bool = False, right: dict[str, list] | None = None,
         right_label: str = "") -> Path:
    """Lines of `series` against xs (and of `right` on a second y axis), titled, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, ys in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if right:
        twin = ax.twinx()
        for label, ys in right.items():
            twin.plot(xs, ys, marker="s", linestyle="--", color="tab:green", label=label)
        twin.set_ylabel(right_label)
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, loc="best")
    fig.tight_layout()
    with atomic_output(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path
