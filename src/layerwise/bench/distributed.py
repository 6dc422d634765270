"""Scaling benchmarks: the same job on K = 1, 2, 4, ... processes of T threads each.

Each configuration is a real `layerwise launch` (torchrun) job on loopback gloo, timed by the job
itself (its JSON line); every rank gets the same number of threads, so K ranks use K times the
cores of one and the efficiency speed-up / K is the classic measure.

* `ddp`: data-parallel supervised training (deepnn by default), throughput in examples/s.
* `rbm-parallel`: the report's problem (8,000 visible x 20,000 hidden, random binary vectors),
  the model-parallel CD-1, per precision, visible type and mini-batch; the speed-up K -> 2K and
  its ideal. The ideal is not 2 from one rank: alone, a rank computes the weight statistics
  once (5 products of B V H / K flops per batch), while K >= 2 ranks compute the duplicated
  weights twice (7 such products), so 1 -> 2 can reach at most 10/7 = 1.43 and K -> 2K, K >= 2,
  reaches 2.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from layerwise.errors import LayerwiseError


class BenchJobError(LayerwiseError):
    """A benchmark job failed."""


def run_job(ranks: int, threads: int, command: list[str], timeout: float = 3600) -> dict:
    """Run `layerwise COMMAND --json` on `ranks` processes of `threads` threads; its figures."""
    argv = [sys.executable, "-m", "layerwise", "launch", "--nproc-per-node", str(ranks), "--",
            *command, "--threads", str(threads), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        said = done.stderr.strip().splitlines() or ["no output"]
        failed = [ln.split("failed: ", 1)[1] for ln in said
                  if ln.startswith("launch: the job failed: ")]
        logs = [ln.split("launch: ", 1)[1] for ln in said if "full log is" in ln]
        raise BenchJobError(f"the job on {ranks} rank(s) failed: {(failed or said)[-1]}"
                            + (f" ({logs[-1]})" if logs else ""))
    return json.loads(lines[-1])


def rank_counts(cores: int, requested: list[int] | None) -> tuple[list[int], int]:
    """K values (powers of two up to the cores unless given) and threads per rank."""
    ks = requested or [2 ** i for i in range(int(math.log2(max(cores, 1))) + 1)]
    return ks, max(1, cores // max(ks))


def ddp(dataset: str, model: str, steps: int, batch: int, cores: int,
        ranks: list[int] | None = None, progress: bool = True) -> dict:
    ks, threads = rank_counts(cores, ranks)
    rows = []
    for K in ks:
        figures = run_job(K, threads, ["train", model, "--dataset", dataset, "--steps",
                                       str(steps), "--batch-size", str(batch), "--val-size", "0",
                                       "--device", "cpu"])
        rows.append({"ranks": K, "threads_per_rank": threads,
                     "seconds": figures["train_seconds"],
                     "examples_per_second": steps * batch / figures["train_seconds"],
                     "test_accuracy": figures.get("test_accuracy")})
        if progress:
            print(f"  K={K}: {rows[-1]['examples_per_second']:.1f} examples/s", flush=True)
    base = rows[0]["examples_per_second"] / rows[0]["ranks"]
    for r in rows:
        r["efficiency"] = r["examples_per_second"] / (base * r["ranks"])
    return {"model": model, "dataset": dataset, "steps": steps, "global_batch": batch,
            "cores": cores, "rows": rows}


def ideal_speedup(k: int) -> float:
    """The best K -> 2K speed-up of the model algorithm (see the module docstring)."""
    return 10 / 7 if k == 1 else 2.0


# Gaussian visible units of this size on unstandardised binary vectors diverge at the default
# Gaussian learning rate (NaN weights in the second epoch, which the run refuses); 1e-4 trains
# them stably, so that the bench times a working run.
GAUSSIAN_BENCH_LR = ("--lr", "1e-4")


def rbm_parallel(examples: int, visible: int, hidden: int, batches: list[int],
                 precisions: list[str], visibles: list[str], cores: int,
                 ranks: list[int] | None = None, epochs: int = 2,
                 progress: bool = True) -> dict:
    ks, threads = rank_counts(cores, ranks)
    rows = []
    for vis in visibles:
        for precision in precisions:
            for batch in batches:
                times = {}
                for K in ks:
                    figures = run_job(K, threads, [
                        "rbm", "train", "--parallel", "model", "--dataset",
                        f"random-binary:n={examples},visible={visible}", "--val-size", "0",
                        "--hidden", str(hidden), "--visible", vis, "--dtype", precision,
                        "--batch-size", str(batch), "--epochs", str(epochs),
                        "--sync-every", str(max(1, 8000 // batch)), "--device", "cpu",
                        *(GAUSSIAN_BENCH_LR if vis == "gaussian" else ())])
                    # The last epoch: the first carries the start-up (allocation, warm-up).
                    times[K] = figures["history"][-1]["seconds"]
                    if progress:
                        print(f"  {vis} {precision} batch {batch} K={K}: {times[K]:.2f} s",
                              flush=True)
                for K in ks:
                    row = {"visible": vis, "precision": precision, "batch": batch, "ranks": K,
                           "threads_per_rank": threads, "epoch_seconds": times[K]}
                    if 2 * K in times:
                        row["speedup_to_2k"] = times[K] / times[2 * K]
                        # doubling the ranks doubles the hardware: efficiency is speed-up / 2
                        row["efficiency_to_2k"] = row["speedup_to_2k"] / 2
                        row["ideal_speedup_to_2k"] = ideal_speedup(K)
                    rows.append(row)
    return {"examples": examples, "visible": visible, "hidden": hidden, "cores": cores,
            "epochs": epochs, "rows": rows}
