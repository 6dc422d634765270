"""What every bench command's report records: the environment, written with the JSON, and the
CPU line of its table."""

from __future__ import annotations

from pathlib import Path


def record_environment(report: dict, suite: str, args, device=None) -> tuple[dict, Path]:
    """Record the environment of `device` (the CPU by default) in the report and write its
    JSON to --out; returns the environment and the JSON's path."""
    import torch

    from layerwise.bench import harness

    env = report["environment"] = harness.environment(device or torch.device("cpu"))
    return env, harness.write_report(Path(args.out), suite, report)


def cpu_summary(report: dict) -> str:
    from layerwise.bench import harness

    return harness.cpu_line(report["environment"])
