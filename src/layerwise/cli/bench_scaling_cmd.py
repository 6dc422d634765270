"""`layerwise bench ddp | rbm-parallel`: how training scales with the number of ranks."""

from __future__ import annotations

from pathlib import Path

from layerwise.cli.bench_report import cpu_summary, record_environment
from layerwise.cli.common import emit, show_progress
from layerwise.errors import ConfigError


def _scaling_setup(args) -> tuple[int, list[int] | None]:
    import os

    cores = args.cores or len(os.sched_getaffinity(0))
    try:
        ranks = [int(k) for k in args.ranks.split(",")] if args.ranks else None
    except ValueError:
        raise ConfigError(f"--ranks {args.ranks!r} is not a list of whole numbers.") from None
    if cores < 1 or (ranks is not None and (not ranks or min(ranks) < 1)):
        raise ConfigError("--cores and every --ranks value must be at least 1.")
    return cores, ranks


def cmd_ddp(args) -> int:
    from layerwise.bench import distributed
    from layerwise.plots import plot

    cores, ranks = _scaling_setup(args)
    dataset, steps = args.dataset or "fashion-mnist", args.steps or 100
    report = distributed.ddp(dataset, "deepnn", steps, 100, cores, ranks, show_progress(args))
    env, json_path = record_environment(report, "ddp", args)
    rows = report["rows"]
    png = plot(Path(args.out) / "ddp.png", "ranks", {"examples/s": [r["examples_per_second"]
                                                                    for r in rows]},
               [r["ranks"] for r in rows], f"deepnn data parallel, {env['cpu']}", "examples/s",
               y_from_zero=True)
    lines = [f"data-parallel deepnn on {dataset}: {steps} steps, global batch 100, gloo, "
             f"{rows[0]['threads_per_rank']} thread(s) per rank ({env['cpu']}, torch "
             f"{env['torch']}, revision {env['revision']})",
             f"{'ranks':>5} {'examples/s':>11} {'efficiency':>11} {'test acc':>9}"]
    lines += [f"{r['ranks']:>5} {r['examples_per_second']:>11.1f} {r['efficiency']:>11.0%} "
              f"{r['test_accuracy']:>9.4f}" for r in rows]
    lines.append(f"wrote {json_path} and {png}")
    lines.insert(1, cpu_summary(report))
    emit(lines, report, args)
    return 0


def cmd_rbm_parallel(args) -> int:
    from layerwise.bench import distributed
    from layerwise.plots import plot

    cores, ranks = _scaling_setup(args)
    try:
        batches = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        raise ConfigError(f"--batch-sizes {args.batch_sizes!r} is not a list of whole "
                          "numbers.") from None
    precisions, visibles = args.precisions.split(","), args.visible_types.split(",")
    if (set(precisions) - {"float32", "float64"} or set(visibles) - {"binary", "gaussian"}
            or min(batches) < 1):
        raise ConfigError("--precisions takes float32,float64, --visible-types binary,gaussian "
                          "and --batch-sizes positive whole numbers.")
    report = distributed.rbm_parallel(args.examples or 8000, 8000, 20000, batches, precisions,
                                      visibles,
                                      cores, ranks, progress=show_progress(args))
    env, json_path = record_environment(report, "rbm-parallel", args)
    rows = report["rows"]
    ks = sorted({r["ranks"] for r in rows})
    series = {}
    for r in rows:
        key = f"{r['visible']} {r['precision']} b{r['batch']}"
        series.setdefault(key, []).append(r["epoch_seconds"])
    base = {k: v[0] for k, v in series.items()}
    png = plot(Path(args.out) / "rbm-parallel.png", "ranks",
               {k: [base[k] / t for t in v] for k, v in series.items()}, ks,
               "model-parallel CD-1, 8000 x 20000: speed-up over 1 rank", "speed-up",
               y_from_zero=True)
    lines = [f"model-parallel CD-1, {args.examples or 8000} random binary vectors, 8000 visible x "
             f"20000 hidden, gloo, {rows[0]['threads_per_rank']} thread(s) per rank "
             f"({env['cpu']}, torch {env['torch']}, revision {env['revision']})",
             f"{'visible':<9} {'precision':<9} {'batch':>5} {'ranks':>5} {'epoch s':>9} "
             f"{'K->2K':>7} {'effic.':>7} {'ideal':>6}"]
    for r in rows:
        speed = (f"{r['speedup_to_2k']:>7.2f} {r['efficiency_to_2k']:>7.0%} "
                 f"{r['ideal_speedup_to_2k']:>6.2f}" if "speedup_to_2k" in r else "")
        lines.append(f"{r['visible']:<9} {r['precision']:<9} {r['batch']:>5} {r['ranks']:>5} "
                     f"{r['epoch_seconds']:>9.2f} {speed}")
    lines.append(f"wrote {json_path} and {png}")
    lines.insert(1, cpu_summary(report))
    emit(lines, report, args)
    return 0


def cmd_links(args) -> int:
    from layerwise.bench import links

    rates = tuple(r.strip() for r in args.rates.split(",") if r.strip())
    examples = args.examples or 500
    try:
        visible, hidden = (int(v) for v in args.rbm_size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--rbm-size {args.rbm_size!r} is not VxH, e.g. 8000x20000.") from None
    jobs = tuple(j.strip() for j in args.jobs.split(",") if j.strip())
    if min(visible, hidden, examples) < 1 or not jobs or set(jobs) - {"rbm", "ddp"}:
        raise ConfigError("--rbm-size and --examples need positive sizes and --jobs one or "
                          "both of rbm, ddp.")
    report = links.links(rates, examples=examples, visible=visible, hidden=hidden, jobs=jobs,
                         progress=show_progress(args))
    env, json_path = record_environment(report, "links" if (visible, hidden) == (8000, 20000)
                                        else f"links-{visible}x{hidden}", args)
    lines = [f"two simulated hosts, one process and one core each (torch "
             f"{env['torch']}, revision {env['revision']})", cpu_summary(report),
             *([f"CD-1: model-parallel {report['visible']} x {report['hidden']} binary RBM, "
                f"{examples} examples, batch {report['batch']}, the second epoch; waited = "
                "rank 0's time blocked on exchanges in flight; model = the communication "
                "model's bytes per host / link rate; hidden = 1 - (waited beyond the least "
                "waited) / model"] if "rbm" in jobs else []),
             *([f"deepnn: data parallel, global batch {report['ddp_batch']}, "
                f"{report['ddp_steps']} steps; alone = one process at the per-rank batch; model "
                f"= {report['ddp_parameters']:,} float32 gradients per host per step / link "
                "rate; hidden = 1 - (step - alone) / model"] if "ddp" in jobs else []),
             *links.table(report), f"wrote {json_path}"]
    emit(lines, report, args)
    return 0
