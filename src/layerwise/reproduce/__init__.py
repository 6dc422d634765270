"""Every figure of both documents that can be re-run here, printed value beside measured one.

`reproduce("course" | "report" | "all", out)` runs the course's labs and the report's tables on
the public API and writes `out/REPORT.md`, `out/results.json` (one row per figure: document,
section, quantity, printed value, measured value, unit, verdict, the command that re-runs it)
and PNG plots. `quick` shortens the long runs (every such row says so); `tiny` runs everything
in seconds, for tests. Verdicts: `agrees` (within the tolerance the row names), `differs`,
`exact`, `measured` (no printed figure to compare with: the printed column says what stands
there), `quick`/`tiny` (a shortened run, not comparable), `projected` (a model), `not run`
(what it needs is missing; the row says what and how to run it).

The package: this module holds the rows, the plan and the report's writing; `course` and
`report` run the two documents' figures; `plots` draws them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from layerwise.errors import ConfigError
from layerwise.progress import stream
from layerwise.run_config import RunConfig
from layerwise.settings import default_of

DOCUMENTS = ("course", "report", "all")


@dataclass
class Row:
    document: str
    section: str
    quantity: str
    printed: object
    measured: object
    unit: str
    verdict: str
    command: str
    note: str = ""


@dataclass
class Plan:
    """How long each run is: the full recipe, `quick` (about 15 minutes on 2 cores) or `tiny`
    (seconds, for tests)."""

    mode: str = "full"
    device: str = default_of(RunConfig, "device")
    dataset: str | None = None  # None: mnist where its files are present, else mnist-10k

    @property
    def lab7_steps(self) -> int:
        return {"full": 20000, "quick": 2000, "tiny": 20}[self.mode]

    @property
    def mark(self) -> str | None:
        """The verdict of a run this plan shortens (None: the full recipe)."""
        return None if self.mode == "full" else self.mode

    @property
    def tiny_mark(self) -> str | None:
        """The verdict of a run only the tiny plan shortens (quick runs it whole)."""
        return "tiny" if self.mode == "tiny" else None


def say(progress: bool, line: str) -> None:
    if progress:
        print(line, file=stream(), flush=True)


def reproduce(what: str, out: str | Path, quick: bool = False, tiny: bool = False,
              device: str = default_of(RunConfig, "device"), dataset: str | None = None,
              progress: bool = True) -> list[Row]:
    """Run `what` (course, report or all), write REPORT.md, results.json and plots to `out`."""
    if what not in DOCUMENTS:
        raise ConfigError(f"reproduce course, report or all, not {what!r}.")
    plan = Plan("tiny" if tiny else "quick" if quick else "full", device, dataset)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory.")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    from layerwise.reproduce import course, report

    rows, plots = [], []
    for doc, fn in (("course", course.run), ("report", report.run)):
        if what in (doc, "all"):
            r, p = fn(plan, out, progress)
            rows += r
            plots += p
    _write(rows, plots, plan, out, time.perf_counter() - start)
    return rows


def _write(rows: list[Row], plots: list[Path], plan: Plan, out: Path, seconds: float) -> None:
    from layerwise.bench.harness import cpu_line, environment
    from layerwise.data.files import atomic_write_bytes
    from layerwise.device import resolve_device

    env = environment(resolve_device(plan.device))
    data = {"mode": plan.mode, "seconds": seconds, "environment": env,
            "rows": [dataclasses.asdict(r) for r in rows], "plots": [p.name for p in plots]}
    atomic_write_bytes(out / "results.json", (json.dumps(data, indent=1, default=str)
                                              + "\n").encode())
    md = [f"# layerwise reproduce ({plan.mode})", "",
          f"{cpu_line(env)}; torch {env['torch']}; revision {env['revision']}; "
          f"{seconds / 60:.1f} minutes.", ""]
    for doc in ("course", "report"):
        mine = [r for r in rows if r.document == doc]
        if not mine:
            continue
        md += [f"## The {doc}", "", "| section | quantity | printed | measured | verdict | "
               "command | note |", "|---|---|---|---|---|---|---|"]
        md += [f"| {r.section} | {r.quantity} | {_fmt(r.printed, r.unit)} | "
               f"{_fmt(r.measured, r.unit)} | {r.verdict} | `{r.command}` | {r.note} |"
               for r in mine]
        md.append("")
    md += [f"![{p.stem}]({p.name})" for p in plots]
    atomic_write_bytes(out / "REPORT.md", ("\n".join(md) + "\n").encode())


def _fmt(v, unit: str) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) or (abs(v) < 1e15 and v == int(v)):
        return f"{int(v):,} {unit}".strip()
    text = f"{v:,.1f}" if abs(v) >= 100 else f"{v:.8g}"
    return f"{text} {unit}".strip()


