"""Progress of long work, on a terminal and in logs alike.

On a terminal a bar (tqdm) shows how far the work is; written to a pipe or a log file, a plain
line every `EVERY` seconds says the same. `Progress.note(line)` prints a line that stays in the
scroll-back either way (the course's "step N, training accuracy ..." lines). Where the lines go
is `stream()`: standard output, or standard error when the command's standard output is kept
for its `--json` result (`send_to_stderr`). Inside `labelled("transfer")` every bar and line
says which part of the work it is ("[transfer] step 50: ..."), for commands that train
several times in a row.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

EVERY = 10.0  # seconds between plain progress lines when not on a terminal
_to_stderr = False
_label = ""


def send_to_stderr(enabled: bool = True) -> None:
    """Write progress to standard error (the CLI does so under --json)."""
    global _to_stderr
    _to_stderr = enabled


def stream() -> TextIO:
    return sys.stderr if _to_stderr else sys.stdout


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Progress made inside the block starts with `[label]`."""
    global _label
    outer, _label = _label, label
    try:
        yield
    finally:
        _label = outer


def duration(seconds: float) -> str:
    """A time as a person reads it: "8 s", "2 min 05 s", "58 min", "1 h 08 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 10:
        return f"{minutes} min {s:02d} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class Progress:
    """`total` units of work called `what`; `enabled=False` makes every call a no-op."""

    def __init__(self, total: int, what: str, unit: str = "step", enabled: bool = True,
                 initial: int = 0, every: float = EVERY):
        self.total, self.unit, self.enabled = total, unit, enabled
        self.tag = f"[{_label}] " if _label else ""
        self.what = self.tag + what
        self.done, self.initial, self.every = initial, initial, every
        self.start = self.last = time.monotonic()
        self.out = stream()
        self.bar = None
        if enabled and self.out.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=self.what, unit=unit, file=self.out,
                            leave=False, dynamic_ncols=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            rate = (self.done - self.initial) / max(self.elapsed, 1e-9)  # this session's
            share = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
            left = (self.total - self.done) / rate if rate > 0 and self.done < self.total \
                else None
            eta = f", about {duration(left)} left" if left is not None else ""
            print(f"{self.what}: {self.unit} {self.done:,} of {self.total:,}{share}, "
                  f"{rate:.1f} {self.unit}s/s, {self.elapsed:.0f} s{eta}", file=self.out,
                  flush=True)

    def note(self, line: str) -> None:
        """A line that stays, above the bar on a terminal."""
        if not self.enabled:
            return
        line = self.tag + line
        if self.bar is not None:
            self.bar.write(line, file=self.out)
        else:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
