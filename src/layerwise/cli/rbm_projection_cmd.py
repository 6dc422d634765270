"""`layerwise rbm projection`: the model of the parallel epoch for K machines (rbm.projection)."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, emit
from layerwise.errors import ConfigError


def register(cmds: argparse._SubParsersAction) -> None:
    pr = cmds.add_parser("projection", help="model of the parallel epoch time for K machines",
                         description="A model, not a measurement: the report's model-parallel "
                         "CD-1 epoch on K machines over links of given rates, calibrated on a "
                         "`bench links` report (this CPU's rate per rank), beside a GPU's.")
    pr.add_argument("--calibration", default="bench-results/links.json", metavar="JSON",
                    help="the `layerwise bench links` report to calibrate on")
    pr.add_argument("--check", default="bench-results/links-800x2000.json", metavar="JSON",
                    help="a `bench links --rbm-size 800x2000 --rates ...` report on slow links, "
                         "to fit the link efficiency and check the model's overlap")
    pr.add_argument("--gpu-tflops", type=float, default=None, metavar="T",
                    help="a GPU's rate per rank in the CD-1 products (default: none shown)")
    pr.add_argument("--links", default="1,10,100", help="link rates in Gbit/s (default 1,10,100)")
    pr.add_argument("--latency-ms", type=float, default=0.091,
                    help="per message (default 0.091, the report's network)")
    pr.add_argument("--ranks", default="1,2,4,8,16,32,64", help="K values")
    pr.add_argument("--batch-size", type=int, default=1000, help="mini-batch (default 1000)")
    pr.add_argument("--plots", metavar="DIR", help="write projection.png here")
    add_json(pr)
    pr.set_defaults(func=cmd_projection)


def _numbers(text: str, flag: str, kind=float) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a list of numbers.") from None
    if not values or min(values) <= 0:
        raise ConfigError(f"{flag} needs positive numbers, e.g. 1,10,100.")
    return values


def cmd_projection(args) -> int:
    from layerwise.rbm import projection

    if args.batch_size < 1 or args.latency_ms < 0 or (args.gpu_tflops is not None
                                                      and not args.gpu_tflops > 0):
        raise ConfigError("--batch-size must be at least 1, --latency-ms non-negative and "
                          "--gpu-tflops positive.")
    figures = projection.from_reports(
        args.calibration, args.check, _numbers(args.links, "--links"),
        _numbers(args.ranks, "--ranks", int), args.batch_size, args.latency_ms / 1000,
        args.gpu_tflops * 1e12 if args.gpu_tflops else None, args.plots)
    lines = [f"A MODEL, NOT A MEASUREMENT: the report's model-parallel CD-1 (8000 x 20000 "
             f"binary, 8000 examples, batch {args.batch_size}), latency {args.latency_ms:g} ms"
             " per message; weight synchronisation left out",
             f"compute: {figures['flops_per_rank'] / 1e9:.1f} GFLOP/s per rank, from "
             f"{args.calibration}; links give the exchanges {figures['link_efficiency']:.0%} "
             f"of their nominal rate, fitted on {args.check} ({figures['check_rbm']}), where the "
             "model and the "
             "measurement compare as follows (exposed communication per epoch):"]
    for size, checks in figures["checks"].items():
        lines.append(f"  {size}:")
        lines += [f"  {c['rate']:>8}: model {c['model_exposed'] * 1000:7.1f} ms, measured "
                  f"{c['measured_exposed'] * 1000:7.1f} ms (whole transfer "
                  f"{c['model_transfer'] * 1000:.1f} ms)" for c in checks]
    for m in figures["machines"]:
        for link in m["links"]:
            lines.append(f"{m['machine']} at {m['flops'] / 1e9:,.0f} GFLOP/s"
                         f"{'' if m['measured'] else ' (assumed)'}, {link['gbit']:g} Gbit/s: "
                         f"communication hidden up to K = {link['last_hidden'] or 'none'}")
            lines.append("  " + "  ".join(f"K={r['ranks']}: {r['seconds']:.3g} s "
                                          f"x{r['speedup']:.1f}" for r in link["rows"]))
    if "png" in figures:
        lines.append(f"wrote {figures['png']}")
    emit(lines, figures, args)
    return 0
