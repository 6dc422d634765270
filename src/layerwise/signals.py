"""Signals that end a run: SIGINT (Ctrl-C), SIGTERM (kill, a batch scheduler) and SIGHUP (the
terminal went away) all unwind the stack as an exception, so every `atomic_output` removes its
temporary file and the last complete checkpoint stays as it was.

`install()` sets the handlers for a command's duration. `deferred()` holds them back around a
write that calls Python from C++ (`torch.save` writes through the file object's `write`): an
exception raised inside that callback would reach the user as torch's "unexpected pos"
RuntimeError, so the signal is recorded and raised as soon as the write returns or fails.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from layerwise.errors import Terminated

ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_pending: list[int] = []
_deferring = 0


def exit_status(signum: int) -> int:
    """What a shell reports for a process ended by `signum`: 128 + its number."""
    return 128 + signum


def _raise_for(signum: int):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _handler(signum, frame):
    if _deferring:
        _pending.append(signum)
        return
    _raise_for(signum)


def install() -> dict[int, object]:
    """Handle SIGINT, SIGTERM and SIGHUP by raising (KeyboardInterrupt or Terminated); returns
    the handlers replaced, for `restore`. Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _handler) for s in ENDING}


def restore(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold ending signals back for the block (only where `install` set the handlers); raise
    the first one that arrived once it is over, whether it succeeded or failed."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending:
            signum = _pending[0]
            _pending.clear()
            _raise_for(signum)
