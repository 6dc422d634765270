"""`layerwise bench SUITE`: benchmarks that print a table, write JSON and a PNG plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerwise.cli.bench_report import cpu_summary, record_environment
from layerwise.cli.common import add_json, add_seed, emit, run_config, show_progress
from layerwise.cli.flags import add_setting
from layerwise.run_config import RunConfig

SUITES = ("lab7", "rbm", "ddp", "rbm-parallel", "links")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite",
                       description="Run a benchmark suite: a table on stdout, JSON (with "
                       "hardware, versions and code revision) and a PNG plot in --out.")
    p.add_argument("suite", choices=SUITES)
    add_setting(p, RunConfig, "device")
    p.add_argument("--out", default="bench-results", help="directory for JSON and PNG")
    p.add_argument("--dataset", help="lab7: mnist-10k (default); rbm: fashion-mnist (default)")
    p.add_argument("--steps", type=int,
                   help="steps to time (default: the course's 20,000 on a GPU, 500 on a CPU)")
    add_seed(p)
    p.add_argument("--ranks", help="ddp, rbm-parallel: K values, e.g. 1,2,4 (default: powers "
                   "of two up to --cores)")
    p.add_argument("--cores", type=int, help="ddp, rbm-parallel: cores to share among the "
                   "ranks (default: all this process may use)")
    p.add_argument("--examples", type=int,
                   help="rbm-parallel, links: random binary vectors per epoch (default 8000; "
                        "links: 500)")
    p.add_argument("--rbm-size", default="8000x20000", metavar="VxH",
                   help="links: the model-parallel RBM (default the report's 8000x20000)")
    p.add_argument("--jobs", default="rbm,ddp", help="links: rbm, ddp or both")
    p.add_argument("--rates", default="none,10gbit,1gbit,100mbit",
                   help="links: link rates of two simulated hosts (tc syntax; none: unshaped)")
    p.add_argument("--batch-sizes", default="100,1000", help="rbm-parallel (default 100,1000)")
    p.add_argument("--precisions", default="float32,float64",
                   help="rbm-parallel (default float32,float64)")
    p.add_argument("--visible-types", default="binary,gaussian",
                   help="rbm-parallel (default binary,gaussian)")
    add_json(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from layerwise.cli import bench_scaling_cmd

    return {"lab7": cmd_lab7, "rbm": cmd_rbm, "ddp": bench_scaling_cmd.cmd_ddp,
            "rbm-parallel": bench_scaling_cmd.cmd_rbm_parallel,
            "links": bench_scaling_cmd.cmd_links}[args.suite](args)


def cmd_rbm(args) -> int:
    from layerwise.bench import harness, rbm
    from layerwise.device import resolve_device

    device = resolve_device(run_config(args).device)
    dataset = args.dataset or "fashion-mnist"
    report = rbm.run(dataset, device, args.seed, progress=show_progress(args))
    env, json_path = record_environment(report, "rbm", args, device)
    out = Path(args.out)
    timed = {n: r for n, r in report["rows"].items()
             if "seconds" in r and r["products"] != "bf16"}
    harness.bar_chart(out / "rbm.png", timed, report["floor_seconds"],
                      f"CD-1 epoch, 784x500, batch 100, {env['device_name']}, float32 floor")
    lo, hi = report["gemm_flops_range"]
    lines = [f"one CD-1 epoch: {report['examples']:,} x 784 binarised {dataset}, 500 hidden, "
             f"batch 100 ({env['device_name']}, {env['torch_threads']} threads, torch "
             f"{env['torch']}, revision {env['revision']})",
             f"floor = 10 N V H / {report['gemm_flops'] / 1e9:.1f} GFLOP/s (median float32 GEMM "
             f"window; range {lo / 1e9:.1f}-{hi / 1e9:.1f}) = {report['floor_seconds']:.3f} s; "
             + (f"with bf16 products 10 N V H / {report['bf16_gemm_flops'] / 1e9:.1f} GFLOP/s "
              f"(bf16 GEMM) = {report['bf16_floor_seconds']:.3f} s"
              if report["bf16_gemm_flops"] == report["bf16_gemm_flops"]
              else "bf16 rows skipped: no native bfloat16 products on this device"),
             f"medians of {report['timed_epochs']} epochs (every row twice: in order, then "
             "reversed); x floor divides each epoch by the "
             "floor of the GEMM window run right after it, at the products' precision "
             "(float32 for the float64 peer)",
             f"{'implementation':<36} {'products':>9} {'seconds':>9} {'x floor':>8}"]
    for name, row in report["rows"].items():
        lines.append(f"{name:<36} {row['products']:>9} {row['seconds']:>9.3f} "
                     f"{row['x_floor']:>8.2f}" if "seconds" in row
                     else f"{name:<36} {row['skipped']}")
    bound, ours = report["rows"].get("products alone", {}), report["rows"].get("layerwise", {})
    if "seconds" in bound and "seconds" in ours:
        lines.append(f"products alone run at {bound['x_floor']:.2f}x the floor, the least any "
                     f"CD-1 on these GEMMs can reach here; layerwise spends "
                     f"{ours['seconds'] - bound['seconds']:.3f} s beyond them")
    vs = report["versus_sklearn"]
    if vs:
        lines.append(f"layerwise is {vs['speedup']:.2f}x as fast as {vs['peer']}, the faster "
                     f"scikit-learn row ({vs['floor_speedup']:.2f}x by the paired floors)")
    lines.append("the report's problem, 8000 visible x 20000 hidden, CD-1, batch 100:")
    lines.append(f"{'precision':<10} {'examples':>8} {'epoch s':>9} {'GFLOP/s':>9} "
                 f"{'GEMM GFLOP/s':>13} {'of GEMM':>8}")
    for r in report["large_problem"]:
        if "skipped" in r:
            lines.append(f"{r['precision']:<10} {r['skipped']}")
            continue
        lines.append(f"{r['precision']:<10} {r['examples']:>8} {r['epoch_seconds']:>9.2f} "
                     f"{r['achieved_flops'] / 1e9:>9.1f} {r['gemm_flops'] / 1e9:>13.1f} "
                     f"{r['fraction_of_gemm']:>8.0%}")
    lines.append(f"wrote {json_path} and {out / 'rbm.png'}")
    lines.insert(1, cpu_summary(report))
    emit(lines, report, args)
    return 0


def cmd_lab7(args) -> int:
    from layerwise.bench import harness, lab7
    from layerwise.device import resolve_device

    device = resolve_device(run_config(args).device)
    args.dataset = args.dataset or "mnist-10k"
    steps = args.steps or (20000 if device.type == "cuda" else 500)
    report = lab7.run(args.dataset, steps, device, args.seed, progress=show_progress(args))
    env, json_path = record_environment(report, "lab7", args, device)
    out = Path(args.out)
    harness.bar_chart(out / "lab7.png", {n: r for n, r in report["rows"].items()
                                         if "seconds" in r and r["products"] == "float32"},
                      report["floor_seconds"], f"Lab 7 recipe, {steps} steps of 50, "
                      f"{env['device_name']}, float32 floor")
    lines = [f"Lab 7 recipe: deepnn, {steps} steps of 50 after {report['warmup_steps']} "
             f"untimed, on {args.dataset} ({env['device_name']}, torch {env['torch']}, "
             f"revision {env['revision']})",
             f"floor = {report['step_flops'] / 1e9:.2f} GFLOP a step (convolutions and dense "
             f"layers, forward and backward) / the GEMM rate of a window run right after each "
             f"row = {report['floor_seconds']:.2f} s at the plain loop's window",
             f"{'implementation':<30} {'products':>8} {'seconds':>9} {'x floor':>8} "
             f"{'test acc':>9}"]
    for n, r in report["rows"].items():
        acc = f"{r['test_accuracy']:>9.4f}" if "test_accuracy" in r else f"{'-':>9}"
        lines.append(f"{n:<30} {r['products']:>8} {r['seconds']:>9.2f} {r['x_floor']:>8.2f} "
                     f"{acc}" if "seconds" in r else f"{n:<30} skipped: {r['skipped']}")
    lines += [f"speed-up of layerwise over plain eager: {report['speedup_vs_plain']:.2f}x "
              f"({report['floor_speedup_vs_plain']:.2f}x by the paired floors)",
              f"products alone bound any implementation on these kernels to "
              f"{report['products_bound_vs_plain']:.2f}x plain eager "
              f"({report['floor_products_bound_vs_plain']:.2f}x by the paired floors); "
              f"layerwise spends {report['beyond_products_seconds']:.2f} s beyond them",
              f"wrote {json_path} and {out / 'lab7.png'}"]
    lines.insert(1, cpu_summary(report))
    emit(lines, report, args)
    return 0
