"""Progress of long work, on a terminal and in logs alike.

On a terminal a bar (tqdm) shows how far the work is; written to a pipe or a log file, a plain
line every `EVERY` seconds says the same. `Progress.note(line)` prints a line that stays in the
scroll-back either way (the course's "step N, training accuracy ..." lines). Where the lines go
is `stream()`: standard output, or standard error when the command's standard output is kept
for its `--json` result (`send_to_stderr`).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

EVERY = 10.0  # seconds between plain progress lines when not on a terminal
_to_stderr = False


def send_to_stderr(enabled: bool = True) -> None:
    """Write progress to standard error (the CLI does so under --json)."""
    global _to_stderr
    _to_stderr = enabled


def stream() -> TextIO:
    return sys.stderr if _to_stderr else sys.stdout


class Progress:
    """`total` units of work called `what`; `enabled=False` makes every call a no-op."""

    def __init__(self, total: int, what: str, unit: str = "step", enabled: bool = True,
                 initial: int = 0, every: float = EVERY):
        self.total, self.what, self.unit, self.enabled = total, what, unit, enabled
        self.done, self.every = initial, every
        self.start = self.last = time.monotonic()
        self.out = stream()
        self.bar = None
        if enabled and self.out.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=what, unit=unit, file=self.out,
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
            rate = self.done / max(self.elapsed, 1e-9)
            share = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
            print(f"{self.what}: {self.unit} {self.done:,} of {self.total:,}{share}, "
                  f"{rate:.1f} {self.unit}s/s, {self.elapsed:.0f} s", file=self.out, flush=True)

    def note(self, line: str) -> None:
        """A line that stays, above the bar on a terminal."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.out)
        else:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
