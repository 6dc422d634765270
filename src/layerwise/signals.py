"""Signals that end a run: SIGINT (Ctrl-C), SIGTERM (kill, a batch scheduler) and SIGHUP (the
terminal went away) all unwind the stack as an exception, so every `atomic_output` removes its
temporary file and the last complete checkpoint stays as it was.

`install()` sets the handlers for a command's duration. `deferred()` holds them back around a
write that calls Python from C++ (`torch.save` writes through the file object's `write`): an
exception raised inside that callback would reach the user as torch's "unexpected pos"
RuntimeError, so the signal is recorded and raised as soon as the write returns or fails.

`die_with_parent()` asks Linux for a signal when the parent process ends, however it ends:
torchrun under `layerwise launch`, and every rank, end with the process that started them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
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


PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent thread ends
# How torchrun's agent is started: `python -m torch.distributed.run`, or its `torchrun` script
TORCHRUN = ("torch.distributed.run", "torch.distributed.launch", "torchrun")


def die_with_parent(sig: int = signal.SIGTERM, parent_runs: tuple[str, ...] = ()) -> None:
    """Ask Linux to send `sig` to this process when its parent dies, whatever kills the parent
    (SIGKILL included, which no handler of the parent's can see); and if the parent is already
    gone, send it now: gone while this was asked, or, given `parent_runs`, before it was (the
    parent is then no longer one of those programs: see `_runs`). Elsewhere
    nothing happens: there the parent's own handlers stop the job. Used by torchrun under
    `layerwise launch` and by every rank, so a killed launcher takes the whole job with it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent or parent_runs and not _runs(parent, parent_runs):
        os.kill(os.getpid(), sig)


def _runs(pid: int, programs: tuple[str, ...]) -> bool:
    """Whether process `pid` runs one of `programs`: the name of its executable, of the script
    it runs or of the module after `-m` (its first three arguments). True where this cannot
    be read: only a parent known to be another program is taken for a dead one."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
    except OSError:
        return True
    return any(os.path.basename(a) in programs for a in args[:3])
