"""A model, not a measurement: the epoch time of the report's model-parallel CD-1 on K machines.

Per mini-batch of B examples each of K >= 2 ranks computes 7 products of B x V x H/K
multiply-adds (5 on one machine, which computes the weight statistics once), i.e.
t_product = 2 B V H / K / R seconds each at R FLOP/s per rank. It exchanges three blocks of
states (hidden, visible, hidden; binary states as bits, Gaussian visible states as floats) by a
ring all-gather: each rank sends (K - 1) / K of the gathered bytes, in K - 1 messages of latency
a, over a link of L bits/s. Each exchange is overlapped with one product (layerwise's
ParallelCD does exactly that), so only max(0, t_exchange - t_product) of it is exposed:

    epoch(K) = N / B * (7 t_product + sum over the 3 exchanges of max(0, t_x - t_product))

The weight synchronisation (every 8,000 examples in the report) is left out, as in the report's
table. The compute rate R is calibrated on a measured epoch (`bench links`); the link efficiency
(the share of the nominal rate the exchanges get) is fitted to the exposed communication measured
on slow links, where it dominates; `check` compares the model with each measured link.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerwise.rbm.comm import VISIBLE_BITS, Problem


@dataclass(frozen=True)
class Machine:
    name: str
    flops: float  # per rank, FLOP/s, in the CD-1 products at this problem's size
    measured: bool  # False: an assumed rate, said so wherever it is shown


def exchange_seconds(bits: float, ranks: int, link_bits: float, latency: float,
                     efficiency: float = 1.0) -> float:
    """A ring all-gather of `bits` in all: each rank sends (K - 1) / K of them, at
    `efficiency` times the link's rate (framing, acknowledgements, protocol)."""
    return (ranks - 1) / ranks * bits / (link_bits * efficiency) + (ranks - 1) * latency


def epoch(p: Problem, ranks: int, flops: float, link_bits: float | None = None,
          latency: float = 0.0, visible: str = "binary", precision: str = "float32",
          efficiency: float = 1.0) -> dict:
    """Modelled seconds of one epoch on `ranks` machines: compute, exposed communication."""
    B, V, H, K = p.batch_size, p.n_visible, p.n_hidden, ranks
    batches = p.examples / B
    product = 2 * B * V * H / K / flops
    if K == 1:
        return {"ranks": 1, "compute": batches * 5 * product, "exposed": 0.0,
                "transfer": 0.0, "seconds": batches * 5 * product}
    sizes = [B * H, B * V * VISIBLE_BITS[visible, precision], B * H]  # bits gathered
    transfers = [exchange_seconds(b, K, link_bits, latency, efficiency) for b in sizes]
    exposed = sum(max(0.0, t - product) for t in transfers)
    compute = batches * 7 * product
    return {"ranks": K, "compute": compute, "exposed": batches * exposed,
            "transfer": batches * sum(transfers), "seconds": compute + batches * exposed,
            "hidden": all(t <= product for t in transfers)}


def project(p: Problem, machine: Machine, link_bits: float, latency: float,
            ks: list[int], visible: str = "binary", precision: str = "float32",
            efficiency: float = 1.0) -> list[dict]:
    """Epoch time and speed-up over one machine for each K."""
    one = epoch(p, 1, machine.flops)["seconds"]
    rows = []
    for K in ks:
        row = epoch(p, K, machine.flops, link_bits, latency, visible, precision, efficiency)
        row["speedup"] = one / row["seconds"]
        row["ideal"] = K * 5 / 7 if K > 1 else 1.0
        rows.append(row)
    return rows


def last_hidden(rows: list[dict]) -> int | None:
    """The largest K at which every exchange still hides behind its product."""
    hidden = [r["ranks"] for r in rows if r.get("hidden", True)]
    return max(hidden) if hidden else None


def calibrate(report: dict) -> float:
    """Per-rank FLOP/s of the products from a `bench links` report: the model's compute for
    K = 2 divided by the measured compute time (epoch minus time waited on exchanges) on the
    fastest link."""
    p = _problem(report)
    row = min(report["rows"], key=lambda r: r["rbm_exposed_seconds"])
    flops_needed = p.examples / p.batch_size * 7 * 2 * p.batch_size * p.n_visible * \
        p.n_hidden / 2
    return flops_needed / row["rbm_compute_seconds"]


def _problem(report: dict) -> Problem:
    return Problem(report["visible"], report["hidden"], report["examples"], report["batch"])


def _shaped(report: dict) -> list[dict]:
    return [r for r in report["rows"] if r["rate"] != "none"]


def check(report: dict, latency: float, efficiency: float = 1.0) -> list[dict]:
    """The model against every shaped link of a `bench links` report, with the compute rate
    calibrated on that report: modelled and measured exposed communication per epoch (the
    measured one beyond the least waited on any link, the exchanges' fixed cost)."""
    from layerwise.distributed.simhosts import bits_per_second

    p, flops = _problem(report), calibrate(report)
    rows = []
    for r in _shaped(report):
        m = epoch(p, 2, flops, bits_per_second(r["rate"]), latency, efficiency=efficiency)
        rows.append({"rate": r["rate"], "model_exposed": m["exposed"],
                     "measured_exposed": r["rbm_link_exposed_seconds"],
                     "model_transfer": m["transfer"]})
    return rows


def fit_efficiency(report: dict, latency: float) -> float:
    """The link efficiency (0.3 to 1) whose modelled exposed time best matches the measured
    one over the shaped links of a `bench links` report (least squares, on a grid of 0.01)."""
    def error(e: float) -> float:
        return sum((c["model_exposed"] - c["measured_exposed"]) ** 2
                   for c in check(report, latency, e))

    return min((e / 100 for e in range(30, 101)), key=error)


def _read(flag: str, path: str) -> dict:
    """A `bench links` report with CD-1 rows, or a ConfigError saying how to make one."""
    import json
    from pathlib import Path

    from layerwise.errors import ConfigError

    try:
        report = json.loads(Path(path).read_text())
        calibrate(report)
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        raise ConfigError(f"{flag} {path} is not a readable `layerwise bench links` report "
                          "with CD-1 rows; run the bench first (docs/report.md: Slow "
                          "links and the projection).") from None
    return report


def from_reports(calibration: str, check_path: str, links_gbit: list[float], ks: list[int],
                 batch_size: int = 1000, latency: float = 0.091e-3,
                 gpu_flops: float | None = None, plots: str | None = None) -> dict:
    """The projection of the report's problem (8000 x 20000, 8000 examples) for each K and
    link: compute rate calibrated on the `bench links` report `calibration`, link efficiency
    fitted on `check_path` (slow links), both checked; a GPU at an assumed `gpu_flops` beside
    this CPU. With `plots`, the speed-ups go to plots/projection.png."""
    report, slow = _read("--calibration", calibration), _read("--check", check_path)
    efficiency = fit_efficiency(slow, latency)
    cpu = Machine("this CPU (one core per rank)", calibrate(report), True)
    machines = [cpu] + ([Machine("GPU (rate given by --gpu-tflops)", gpu_flops, False)]
                        if gpu_flops else [])
    problem = Problem(8000, 20000, 8000, batch_size)
    figures = {"model": "projection (a model, not a measurement)", "problem": vars(problem),
               "latency_s": latency, "calibration": calibration, "check": check_path,
               "check_rbm": f"{slow['visible']} x {slow['hidden']}",
               "link_efficiency": efficiency, "flops_per_rank": cpu.flops,
               "checks": {f"{r['visible']} x {r['hidden']}, {r['examples']} examples":
                          check(r, latency, efficiency) for r in (slow, report)},
               "machines": []}
    series = {}
    for m in machines:
        entry = {"machine": m.name, "flops": m.flops, "measured": m.measured, "links": []}
        for gbit in links_gbit:
            rows = project(problem, m, gbit * 1e9, latency, ks, efficiency=efficiency)
            entry["links"].append({"gbit": gbit, "rows": rows, "last_hidden": last_hidden(rows)})
            series[f"{m.name.split(',')[0]}, {gbit:g} Gbit/s"] = [r["speedup"] for r in rows]
        figures["machines"].append(entry)
    if plots:
        from pathlib import Path

        from layerwise.plots import plot

        series["ideal (5K/7)"] = [r["ideal"] for r in project(problem, cpu, 1e12, 0, ks)]
        figures["png"] = str(plot(Path(plots) / "projection.png", "K machines", series, ks,
                                  "model-parallel CD-1 speed-up (a model, not a measurement)",
                                  "speed-up", log_x=True))
    return figures
