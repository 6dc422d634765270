"""`layerwise reproduce course|report|all`: both documents' figures, printed beside measured."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, emit, run_config, show_progress
from layerwise.cli.flags import add_setting
from layerwise.run_config import RunConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="re-run every table of the course and the report",
                       description="Run the course's labs and the report's tables and write "
                       "DIR/REPORT.md, DIR/results.json and PNG plots: each figure the "
                       "documents printed beside the one measured here, with a verdict and "
                       "the command that re-runs it.")
    p.add_argument("what", choices=("course", "report", "all"))
    p.add_argument("--out", required=True, metavar="DIR", help="where the report goes")
    p.add_argument("--quick", action="store_true",
                   help="about 15 minutes on 2 cores: Lab 7 for 2,000 steps, small speed-up "
                        "runs (every such row is marked quick)")
    p.add_argument("--tiny", action="store_true",
                   help="seconds, for tests: every long run cut to a few steps (marked tiny)")
    add_setting(p, RunConfig, "device")
    p.add_argument("--dataset", help="for Labs 6, 7 and 9 (default: mnist where its files "
                                     "are here, else mnist-10k)")
    add_json(p)
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args) -> int:
    from layerwise.reproduce import reproduce

    rows = reproduce(args.what, args.out, quick=args.quick, tiny=args.tiny,
                     device=run_config(args).device, dataset=args.dataset,
                     progress=show_progress(args))
    verdicts = {}
    for r in rows:
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    lines = [f"{len(rows)} figures: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())),
             f"wrote {args.out}/REPORT.md and {args.out}/results.json"]
    emit(lines, {"rows": len(rows), "verdicts": verdicts, "out": args.out}, args)
    return 0
