"""`layerwise bench SUITE`: benchmarks that print a table, write JSON and a PNG plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerwise.cli.common import add_json, emit
from layerwise.device import resolve_device

SUITES = ("lab7",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite",
                       description="Run a benchmark suite: a table on stdout, JSON (with "
                       "hardware, versions and code revision) and a PNG plot in --out.")
    p.add_argument("suite", choices=SUITES)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="bench-results", help="directory for JSON and PNG")
    p.add_argument("--dataset", default="mnist-10k")
    p.add_argument("--steps", type=int,
                   help="steps to time (default: the course's 20,000 on a GPU, 500 on a CPU)")
    p.add_argument("--seed", type=int, default=0)
    add_json(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from layerwise.bench import harness, lab7
    from layerwise.train.curves import plot

    device = resolve_device(args.device)
    steps = args.steps or (20000 if device.type == "cuda" else 500)
    report = lab7.run(args.dataset, steps, device, args.seed, progress=not args.json)
    report["environment"] = harness.environment(device)
    out = Path(args.out)
    json_path = harness.write_report(out, "lab7", report)
    names = list(report["rows"])
    plot(out / "lab7.png", "implementation", {"seconds": [report["rows"][n]["seconds"]
                                                         for n in names]},
         names, f"Lab 7 recipe, {steps} steps, {report['environment']['device_name']}", "s")
    env = report["environment"]
    lines = [f"Lab 7 recipe: deepnn, {steps} steps of 50, on {args.dataset} "
             f"({env['device_name']}, torch {env['torch']}, revision {env['revision']})",
             f"{'implementation':<22} {'seconds':>9} {'test acc':>9}"]
    lines += [f"{n:<22} {r['seconds']:>9.2f} {r['test_accuracy']:>9.4f}"
              for n, r in report["rows"].items()]
    lines.append(f"speed-up over plain eager: {report['speedup_vs_plain']:.2f}x; "
                 f"wrote {json_path} and {out / 'lab7.png'}")
    emit(lines, report, args.json)
    return 0
