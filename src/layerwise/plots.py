"""CSV tables and line plots (PNG) that every workload writes: learning curves, RBM measures,
benchmark scaling. Files are written atomically (`data.files.atomic_output`); a CSV and its
plot are written as one set (`write_curves`), so neither is left without the other."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from layerwise.data.files import atomic_output, atomic_write_set


def csv_bytes(rows: list[dict]) -> bytes:
    """`rows` as CSV: a header of every key in first-seen order, a blank for a missing value."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    text = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
    return ("\n".join(text) + "\n").encode()


def write_csv(path: Path, rows: list[dict]) -> Path:
    with atomic_output(path) as raw:
        raw.write(csv_bytes(rows))
    return path


def write_curves(csv_path: Path, rows: list[dict], png_path: Path, *plot_args,
                 **plot_options) -> list[Path]:
    """`rows` as CSV at `csv_path` and `plot(png_path, *plot_args, **plot_options)`, written
    as one set: both are drawn first, then both written, so a full disk or a signal leaves
    neither new file, never one without the other."""
    return atomic_write_set({Path(csv_path): csv_bytes(rows),
                             Path(png_path): png_bytes(*plot_args, **plot_options)})


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


DECADES = 50.0  # a positive series whose max / min exceeds this is drawn on a log axis


def spans_decades(values: list) -> bool:
    """Whether positive `values` span enough orders of magnitude to need a log axis."""
    finite = [v for v in values if v is not None and v == v]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > DECADES


def plot(path: Path, x: str, series: dict[str, list], xs: list, title: str, ylabel: str,
         log_x: bool = False, right: dict[str, list] | None = None,
         right_label: str = "", x_from_zero: bool = False, y_from_zero: bool = False) -> Path:
    """`png_bytes`' figure written to `path` (atomically)."""
    png = png_bytes(x, series, xs, title, ylabel, log_x, right, right_label, x_from_zero,
                    y_from_zero)
    with atomic_output(path) as f:
        f.write(png)
    return path


def png_bytes(x: str, series: dict[str, list], xs: list, title: str, ylabel: str,
              log_x: bool = False, right: dict[str, list] | None = None,
              right_label: str = "", x_from_zero: bool = False,
              y_from_zero: bool = False) -> bytes:
    """Lines of `series` against xs (and of `right` on a second y axis), titled, as a PNG.

    Every line has markers, so a run of one evaluation still shows its point; a y axis whose
    values span decades (a loss going to 1e-11) is logarithmic and says so; the legend sits
    below the axes, where it covers no point. `x_from_zero`: the x axis runs from 0 to the
    last x (a step axis that shows how far the run went); `y_from_zero`: the y axis starts at
    0 (a rate or a speed-up, whose growth a cut axis would exaggerate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8), layout="constrained")
    for label, ys in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    if log_x:
        ax.set_xscale("log")
    elif x_from_zero and xs:
        ax.set_xlim(0, max(xs) * 1.05 or 1)
    if xs and all(isinstance(v, int) for v in xs):  # epochs, steps: no tick at 1.5
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(x)
    ax.set_ylabel(_log_if_decades(ax, ylabel, [v for ys in series.values() for v in ys]))
    if y_from_zero and ax.get_yscale() == "linear":
        ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if right:
        twin = ax.twinx()
        for label, ys in right.items():
            twin.plot(xs, ys, marker="s", linestyle="--", color="tab:green", label=label)
        twin.set_ylabel(_log_if_decades(twin, right_label,
                                        [v for ys in right.values() for v in ys]))
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3),
               fontsize=8, frameon=False)
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=100)
    finally:
        plt.close(fig)
    return png.getvalue()


def _log_if_decades(ax, label: str, values: list) -> str:
    if not spans_decades(values):
        return label
    ax.set_yscale("log")
    return f"{label} (log scale)"
