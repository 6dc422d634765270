"""A run's record: the command that ran, the figures it printed, how long it took, the load on
the machine while it ran, and the hardware, versions and code revision, as one JSON file.

`layerwise COMMAND ... --record FILE` writes one; the Results page of the documentation is
rendered from the records committed under docs/results/, so no figure there is typed by hand.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from layerwise.errors import DataValueError

SCHEMA = 1


@dataclass(frozen=True)
class Started:
    """When and under what load a command began (the record's start)."""

    clock: float
    load: tuple[float, float, float]


def started() -> Started:
    """The clock and the load average now, at the start of a run: give it to `write_record`
    at the end."""
    return Started(time.monotonic(), _load())


def _load() -> tuple[float, float, float]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:  # no load average on this platform
        return (float("nan"),) * 3


def write_record(path: str | Path, argv: list[str], figures: dict, start: Started,
                 program: str = "layerwise") -> Path:
    """Write the record of a command run as `program *argv` that printed `figures`,
    atomically (a signal or a full disk leaves no partial file)."""
    import torch

    from layerwise.bench.harness import environment
    from layerwise.data.files import atomic_write_bytes

    device = str(figures.get("device", "cpu"))
    env = environment(torch.device(device if device.startswith("cuda") else "cpu"))
    record = {"schema": SCHEMA, "command": command_line(argv, program),
              "argv": without_record(argv),
              "figures": figures,
              "wall_seconds": round(time.monotonic() - start.clock, 3),
              "load_average": {"start": list(start.load), "end": list(_load())},
              "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "environment": env}
    path = Path(path).expanduser()
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


def without_record(argv: list[str]) -> list[str]:
    """The arguments less --record FILE (where the record went is not part of the run)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--record":
            skip = True
        elif not arg.startswith("--record="):
            kept.append(arg)
    return kept


def command_line(argv: list[str], program: str = "layerwise") -> str:
    """The command a reader types to run it again: `layerwise ...` without --record FILE."""
    return " ".join([program, shlex.join(without_record(argv))]).strip()


def read_record(path: str | Path) -> dict:
    """A record written by write_record, or a DataValueError naming what is wrong with it."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataValueError(f"{path} is not a readable run record ({exc}).") from None
    missing = [k for k in ("schema", "command", "figures", "wall_seconds", "environment")
               if not isinstance(record, dict) or k not in record]
    if missing:
        raise DataValueError(f"{path} is not a run record written by --record: it has no "
                              f"{', '.join(missing)}.")
    return record
