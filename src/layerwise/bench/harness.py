"""What every benchmark report carries: hardware, library versions, code revision, and where
its JSON and PNG went."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from layerwise import __version__
from layerwise.data.files import atomic_output, atomic_write_bytes
from layerwise.device import cpu_instruction_sets, describe


def git_revision() -> str:
    """The checkout's commit (with '+dirty' for uncommitted changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_name() -> str:
    """The CPU's model name as the kernel reports it (Linux), else the platform's word."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    import numpy

    return {"device": str(device), "device_name": describe(device),
            "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "cpu_instruction_sets": cpu_instruction_sets(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__,
            "cuda": torch.version.cuda if device.type == "cuda" else None,
            "layerwise": __version__, "revision": git_revision()}


def write_report(out_dir: str | Path, suite: str, report: dict) -> Path:
    path = Path(out_dir) / f"{suite}.json"
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
    return path


def cpu_line(env: dict) -> str:
    """The CPU features that decide the timings, as torch sees them, in one line."""
    isa = env["cpu_instruction_sets"]
    flags = ", ".join(f"{name} {'yes' if isa[key] else 'no'}" for name, key in (
        ("AVX2", "avx2"), ("AVX-512", "avx512"), ("AVX512_BF16", "avx512_bf16"), ("AMX", "amx")))
    cores = f", {env['cpu_count']} logical CPUs" if env.get("cpu_count") else ""
    return f"CPU: {env['cpu']}{cores}; {flags}; torch CPU capability {isa['capability']}"


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def both_orders(names: list[str], rows: dict[str, dict], progress: bool = True):
    """Each name in order and then in reverse order, so that a machine drifting faster or
    slower over a run shifts every row alike, skipping names whose row in `rows` is marked
    skipped (before the run, or by its first pass); prints which pass it is on."""
    for n_pass, order in enumerate((names, names[::-1])):
        for name in order:
            if "skipped" in rows.get(name, {}):
                continue
            if progress:
                print(f"timing {name} (pass {n_pass + 1} of 2) ...", flush=True)
            yield name


def gemm_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10,
              windows: int = 3) -> float:
    """Measured FLOP/s of an n x n x n matrix product (the device's practical peak): the best
    of `windows` windows of `repeats` products each."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b, out=c)
    best = 0.0
    for _ in range(windows):
        sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b, out=c)
        sync(device)
        best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start))
    return best


def bar_chart(path: Path, rows: dict[str, dict], floor: float, title: str) -> Path:
    """Implementations' times (rows: name -> {"seconds", "x_floor"}) as horizontal bars, each
    labelled with its seconds and its paired x floor, with `floor` seconds as a dashed line, to
    a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = {n: r["seconds"] for n, r in rows.items()}
    names = list(seconds)[::-1]  # the first row on top
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.6))
    bars = ax.barh(names, [seconds[n] for n in names],
                   color=["tab:blue" if n.startswith("layerwise") else "tab:gray"
                          for n in names])
    for bar, name in zip(bars, names, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {seconds[name]:.2f} s ({rows[name]['x_floor']:.2f}x floor)", va="center",
                fontsize=8)
    ax.axvline(floor, color="tab:red", linestyle="--", label=f"floor {floor:.2f} s")
    ax.set_xlim(0, max(seconds.values()) * 1.35)
    ax.set_xlabel("seconds")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_output(Path(path)) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return Path(path)
