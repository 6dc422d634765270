"""Two simulated hosts (layerwise.distributed.simhosts) joined by a shaped link: how much of the
communication the model-parallel CD-1 and data-parallel deepnn hide behind their compute.

For each link rate, one process per host (one core each) runs
* the report's model-parallel CD-1 (8,000 x 20,000 binary RBM by default, a few batches): the
  epoch's time, the time rank 0 waited for exchanges in flight (the communication not hidden),
  and the bytes the communication model predicts per host divided by the link rate (what the
  exchanges would cost if nothing overlapped);
* data-parallel deepnn steps (gradients all-reduced in backward): time per step against one
  process computing the same per-rank batch alone on one core, and the gradient bytes a ring
  all-reduce sends per host divided by the rate.
`hidden` is 1 - exposed / predicted: 1 when compute hides the whole transfer, 0 when none of it.
"""

from __future__ import annotations

import json
import subprocess
import sys

from layerwise.bench.distributed import BenchJobError
from layerwise.distributed import simhosts
from layerwise.distributed.launcher import AGENT_GRACE
from layerwise.errors import ConfigError

DEFAULT_RATES = ("none", "10gbit", "1gbit", "100mbit")


def _job(hosts: simhosts.SimulatedHosts, command: list[str], port: int,
         timeout: float) -> dict:
    procs = hosts.launch([*command, "--json", "--quiet"], port=port, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=timeout + AGENT_GRACE))
        except subprocess.TimeoutExpired:
            hosts.kill(0)
            hosts.kill(1)
            raise BenchJobError(f"a two-host job did not finish in {timeout:g} s: "
                                f"{' '.join(command)}") from None
    lines = [ln for ln in outs[0][0].splitlines() if ln.startswith("{")]
    if any(p.returncode for p in procs) or not lines:
        said = [ln for o in outs for ln in o[1].splitlines() if ln.startswith("launch: the job")]
        raise BenchJobError(f"a two-host job failed: {(said or ['no output'])[-1]}")
    return json.loads(lines[-1])


def _alone(command: list[str], timeout: float) -> dict:
    done = subprocess.run([sys.executable, "-m", "layerwise", *command, "--json", "--quiet",
                           "--threads", "1"], capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        raise BenchJobError(f"the one-process job failed: {done.stderr.strip()[-300:]}")
    return json.loads(lines[-1])


def links(rates: tuple[str, ...] = DEFAULT_RATES, examples: int = 500, visible: int = 8000,
          hidden: int = 20000, batch: int = 100, ddp_steps: int = 40, ddp_batch: int = 50,
          progress: bool = True, timeout: float = 1800, jobs: tuple[str, ...] = ("rbm", "ddp")
          ) -> dict:
    from layerwise.rbm import comm

    if not rates:
        raise ConfigError("--rates needs at least one link rate, e.g. none,1gbit.")
    # every rate read before any host is made: a typo is refused at once
    link_bits = {r: None if r == "none" else simhosts.bits_per_second(r) for r in rates}
    if simhosts.available():
        raise simhosts.HostsError(f"bench links: {simhosts.available()}.")
    rbm = ["rbm", "train", "--parallel", "model", "--dataset",
           f"random-binary:n={examples},visible={visible}", "--val-size", "0", "--hidden",
           str(hidden), "--batch-size", str(batch), "--epochs", "2", "--sync-every", "0",
           "--device", "cpu", "--threads", "1", "--timeout", "900"]  # the final gather of W
    # (640 MB to rank 0 for the result) takes a minute at 100 Mbit/s, hence the long timeout
    def ddp_job(batch_size: int) -> list[str]:
        return ["train", "deepnn", "--dataset", "mnist-10k", "--steps", str(ddp_steps),
                "--batch-size", str(batch_size), "--val-size", "0", "--eval-every",
                str(ddp_steps), "--device", "cpu", "--threads", "1"]

    problem = comm.Problem(visible, hidden, examples, batch)
    rbm_bytes = comm.epoch_bytes(problem, "model", 2, "binary", "float32") / 2  # per host
    # deepnn's float32 gradients; a ring all-reduce on 2 ranks sends each rank half of them
    # twice (reduce-scatter, then all-gather): the whole gradient per host per step.
    from layerwise.nn.models import ModelConfig, build_model
    params = sum(p.numel() for p in build_model(ModelConfig("deepnn", (1, 28, 28), 10))
                 .parameters())
    ddp_bytes = 4 * params
    ddp_alone = None
    if "ddp" in jobs:
        if progress:
            print(f"  one process, deepnn at batch {ddp_batch // 2} (the per-rank batch), 1 core",
                  flush=True)
        ddp_alone = _alone(ddp_job(ddp_batch // 2)[:-2], timeout)["train_seconds"] / ddp_steps
    rows = []
    with simhosts.SimulatedHosts(2) as hosts:
        for i, rate in enumerate(rates):
            qdisc = hosts.link(rate=None if rate == "none" else rate)
            bits = link_bits[rate]
            row = {"rate": rate, "qdisc": qdisc}
            if "rbm" in jobs:
                last = _job(hosts, rbm, 29500 + 2 * i, timeout)["history"][-1]
                row.update(rbm_epoch_seconds=last["seconds"],
                           rbm_exposed_seconds=last["wait_seconds"],
                           rbm_compute_seconds=last["seconds"] - last["wait_seconds"],
                           rbm_bytes_per_host=rbm_bytes,
                           rbm_predicted_seconds=rbm_bytes * 8 / bits if bits else None)
            if "ddp" in jobs:
                fig = _job(hosts, ddp_job(ddp_batch), 29501 + 2 * i, timeout)
                step = fig["train_seconds"] / ddp_steps
                row.update(ddp_step_seconds=step, ddp_compute_seconds=ddp_alone,
                           ddp_exposed_seconds=max(0.0, step - ddp_alone),
                           ddp_bytes_per_host=ddp_bytes,
                           ddp_predicted_seconds=ddp_bytes * 8 / bits if bits else None)
            rows.append(row)
            if progress:
                print(f"  link {rate}: " + ", ".join(
                    ([f"CD-1 epoch {row['rbm_epoch_seconds']:.2f} s (waited "
                      f"{row['rbm_exposed_seconds']:.3f} s)"] if "rbm" in jobs else [])
                    + ([f"deepnn step {row['ddp_step_seconds'] * 1000:.1f} ms"]
                       if "ddp" in jobs else [])), flush=True)
    _hidden_fractions(rows)
    return {"jobs": list(jobs), "visible": visible, "hidden": hidden, "examples": examples,
            "batch": batch,
            "ddp_steps": ddp_steps, "ddp_batch": ddp_batch, "ddp_parameters": params,
            "hosts": 2, "threads_per_host": 1, "rows": rows}


def _hidden_fractions(rows: list[dict]) -> None:
    """What each link adds to the exposed time, against the model's transfer time. CD-1: the
    time waited beyond the least waited on any link (the exchanges' fixed cost); deepnn: the
    step beyond one process computing alone."""
    base = min((r["rbm_exposed_seconds"] for r in rows if "rbm_exposed_seconds" in r),
               default=0.0)
    for r in rows:
        if "rbm_exposed_seconds" in r:
            r["rbm_link_exposed_seconds"] = max(0.0, r["rbm_exposed_seconds"] - base)
        for job, exposed in (("rbm", r.get("rbm_link_exposed_seconds")),
                             ("ddp", r.get("ddp_exposed_seconds"))):
            if exposed is None:
                continue
            pred = r[f"{job}_predicted_seconds"]
            r[f"{job}_hidden"] = None if not pred else max(0.0, 1 - exposed / pred)


def table(report: dict) -> list[str]:
    """The report as text: one row per link rate (the jobs it ran)."""
    def ms(v):
        return "-" if v is None else f"{v * 1000:.1f}"

    def pct(v):
        return "-" if v is None else f"{v:.0%}"

    jobs = report.get("jobs", ["rbm", "ddp"])
    head = f"{'link':<8} {'qdisc':<6}"
    if "rbm" in jobs:
        head += (f" | {'CD-1 epoch s':>12} {'compute s':>9} {'waited ms':>9} {'model ms':>9} "
                 f"{'hidden':>6}")
    if "ddp" in jobs:
        head += f" | {'deepnn step ms':>14} {'alone ms':>8} {'model ms':>9} {'hidden':>6}"
    lines = [head]
    for r in report["rows"]:
        line = f"{r['rate']:<8} {r['qdisc']:<6}"
        if "rbm" in jobs:
            line += (f" | {r['rbm_epoch_seconds']:>12.2f} {r['rbm_compute_seconds']:>9.2f} "
                     f"{ms(r['rbm_exposed_seconds']):>9} {ms(r['rbm_predicted_seconds']):>9} "
                     f"{pct(r['rbm_hidden']):>6}")
        if "ddp" in jobs:
            line += (f" | {ms(r['ddp_step_seconds']):>14} {ms(r['ddp_compute_seconds']):>8} "
                     f"{ms(r['ddp_predicted_seconds']):>9} {pct(r['ddp_hidden']):>6}")
        lines.append(line)
    return lines


