"""What every benchmark report carries: hardware, library versions, code revision, and where
its JSON and PNG went."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import torch

from layerwise import __version__
from layerwise.data.files import atomic_write_bytes
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


def environment(device: torch.device) -> dict:
    import numpy

    return {"device": str(device), "device_name": describe(device),
            "cpu": platform.processor() or platform.machine(),
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
    return f"CPU: {env['cpu']}; {flags}; torch CPU capability {isa['capability']}"
