"""Running a torchrun job and telling, in a few lines, how it ended.

torchrun starts the ranks with `--tee`, so every rank's output goes both to a file under the log
directory and, prefixed with its local rank, to torchrun's own streams; `run` strips that prefix
and passes the ranks' lines on as they come, while the elastic agent's own lines (its logging,
and on failure the ChildFailedError traceback and banner) go to `launch.log` in the log
directory only. When the job fails, `summary` says which rank failed on which host, with its last
message, and where the full log is.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from layerwise.signals import die_with_parent

RANK_LINE = re.compile(r"^\[(?:default)?(\d+)\]:(.*)$", re.S)
FAILURE = re.compile(r"host\s*:\s*(?P<host>\S+)\s*\n\s*rank\s*:\s*(?P<rank>-?\d+)\s*"
                     r"\(local_rank:\s*(?P<local>\d+)\)\s*\n\s*exitcode\s*:\s*(?P<code>-?\d+)")


@dataclass
class Failure:
    rank: int
    local_rank: int
    host: str
    exitcode: int
    message: str = ""

    def describe(self) -> str:
        how = f"exited with {self.exitcode}" if self.exitcode >= 0 else \
            f"was killed by {_signal_name(-self.exitcode)}"
        who = f"rank {self.rank}" if self.rank >= 0 else f"local rank {self.local_rank}"
        return f"{who} on {self.host} {how}" + (
            f": {self.message}" if self.message else "")


@dataclass
class JobResult:
    returncode: int
    log_dir: Path
    failures: list[Failure] = field(default_factory=list)
    agent_error: str = ""  # the agent's own error when no rank ran (e.g. the rendezvous)

    @property
    def log(self) -> Path:
        return self.log_dir / "launch.log"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def probe_rendezvous(endpoint: str, timeout: float) -> str | None:
    """Why the rendezvous endpoint HOST:PORT cannot be a torch store, or None. Nothing
    listening is not an error (the first machine may not have started yet: torchrun waits up
    to --join-timeout); a port that accepts connections but does not answer the store's
    protocol within `timeout` seconds is, since torchrun would wait on it forever.

    The question is asked by a child process: TCPStore's own timeout does not bound its
    handshake with a silent server, and a server that answers garbage makes its C++ client
    print stack frames or abort the process it runs in. The child is killed when the time is
    up, and what it printed is dropped."""
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return None
    if _asks_store(host, int(port), timeout):
        return None
    return (f"{endpoint} accepts connections but does not answer as a torch rendezvous store "
            f"within {timeout:g} s (--connect-timeout); it is another service, not the first "
            "machine's layerwise launch")


_ASK = """import datetime, sys
from torch.distributed import TCPStore
print("ready", flush=True)
store = TCPStore(sys.argv[1], int(sys.argv[2]), is_master=False, wait_for_workers=False,
                 timeout=datetime.timedelta(seconds=float(sys.argv[3])))
store.check(["layerwise-probe"])
print("store", flush=True)
"""


def _asks_store(host: str, port: int, timeout: float) -> bool:
    """Whether a TCPStore client reaches a store at host:port within `timeout` seconds,
    counted once the child has imported torch (which may take a while on a busy machine)."""
    child = subprocess.Popen([sys.executable, "-c", _ASK, host, str(port), str(timeout)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120  # importing torch
        while "ready\n" not in lines and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        reader.join(timeout)  # ends with the child's output
        return "store\n" in lines
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        reader.join()
        child.stdout.close()


def run(argv: list[str], env: dict, log_dir: Path | None = None, out: TextIO | None = None,
        err: TextIO | None = None) -> JobResult:
    """Run the torchrun command `argv` (without --log-dir/--tee: added here) to its end.

    torchrun dies with this process (`die_with_parent`); on Ctrl-C, SIGTERM or SIGHUP the ranks
    are stopped, their lines are no longer passed on (the command prints one), and a log
    directory this call created is removed."""
    out, err = out or sys.stdout, err or sys.stderr
    own_dir = log_dir is None
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="layerwise-launch-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    i = argv.index("-m", 3) if "-m" in argv[3:] else len(argv)
    argv = [*argv[:i], "--log-dir", str(log_dir), "--tee", "3", *argv[i:]]
    agent = (log_dir / "launch.log").open("a", encoding="utf-8")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", bufsize=1, preexec_fn=die_with_parent)
    lock, stopping = threading.Lock(), threading.Event()

    def pump(stream, to: TextIO) -> None:
        for line in stream:
            m = RANK_LINE.match(line)
            with lock:
                if stopping.is_set():
                    continue
                if m:
                    if m.group(2).strip():  # the tee adds an empty line as each rank ends
                        to.write(m.group(2))
                        to.flush()
                else:
                    agent.write(line)
                    agent.flush()

    threads = [threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err), daemon=True)]
    for t in threads:
        t.start()
    stuck = False
    try:
        code, stuck = _wait(proc, log_dir)
    except BaseException:  # Ctrl-C, SIGTERM or SIGHUP: the ranks are told and waited for
        stopping.set()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        if proc.poll() is None:
            proc.kill()
        for t in threads:
            t.join(timeout=5)
        agent.close()
        if own_dir:
            shutil.rmtree(log_dir, ignore_errors=True)
        raise
    finally:
        for t in threads:
            t.join(timeout=5)
        agent.close()
    result = JobResult(code, log_dir)
    if code != 0:
        text = result.log.read_text(encoding="utf-8", errors="replace")
        result.failures = _failures(text, log_dir) or _local_failures(log_dir)
        if stuck:
            result.agent_error = (f"torchrun's agent was stopped {AGENT_GRACE:g} s after its "
                                  "ranks had failed (it could not reach the rendezvous store)")
        elif not result.failures:
            result.agent_error = _agent_error(text)
    return result


# After every local rank has ended and one reported an error, how long torchrun's agent may
# take to end (it reports to the rendezvous store; with that host gone it waits minutes).
AGENT_GRACE = 5.0


def _children(pid: int) -> set[int]:
    """The live child processes of `pid` (an agent stuck in a store call leaves its ended
    ranks unreaped: zombies, which do not count)."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            kids |= {int(k) for k in (task / "children").read_text().split()}
    return {k for k in kids if _state(k) not in ("Z", "X", "")}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait(proc: subprocess.Popen, log_dir: Path) -> tuple[int, bool]:
    """Wait for torchrun; stop its agent when its ranks have all ended, one of them with a
    layerwise error, and it has not followed within AGENT_GRACE seconds. Returns the exit
    status and whether the agent had to be stopped."""
    had_ranks, since = False, None
    while True:
        try:
            return proc.wait(timeout=0.5), False
        except subprocess.TimeoutExpired:
            pass
        ranks = _children(proc.pid)
        had_ranks = had_ranks or bool(ranks)
        if not (had_ranks and not ranks and _local_failures(log_dir)):
            since = None
            continue
        since = since or time.monotonic()
        if time.monotonic() - since > AGENT_GRACE:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 1, True


def _local_failures(log_dir: Path) -> list[Failure]:
    """Failures read from this machine's rank logs: each local rank whose last layerwise line
    is an error (the rank number is in the message, the host is this one)."""
    failures = []
    for local in sorted({int(p.parent.name) for p in log_dir.glob("*/attempt_*/*/stderr.log")}):
        message = _last_message(log_dir, local)
        if message.startswith("layerwise: error") or message.startswith("layerwise: term"):
            m = re.search(r"rank (\d+) of", message)
            failures.append(Failure(int(m[1]) if m else -1, local, socket.gethostname(), 1,
                                    message))
    return failures


def _failures(agent_log: str, log_dir: Path) -> list[Failure]:
    """The failed ranks from the agent's report, root cause first, each with its last line."""
    block = agent_log[agent_log.rfind("Failures:"):] if "Failures:" in agent_log else ""
    root = block.find("Root Cause")
    found = [(m.start() < root if root >= 0 else True, m) for m in FAILURE.finditer(block)]
    failures = []
    for _, m in sorted(found, key=lambda x: x[0]):  # False (after "Root Cause") sorts first
        f = Failure(int(m["rank"]), int(m["local"]), m["host"], int(m["code"]))
        if all(f.rank != g.rank for g in failures):
            f.message = _last_message(log_dir, f.local_rank)
            failures.append(f)
    return failures


def _last_message(log_dir: Path, local_rank: int) -> str:
    """The last layerwise message (else the last line) that local rank wrote to stderr."""
    logs = sorted(log_dir.glob(f"*/attempt_*/{local_rank}/stderr.log"),
                  key=lambda p: p.stat().st_mtime)
    if not logs:
        return ""
    lines = [ln.strip() for ln in logs[-1].read_text(errors="replace").splitlines()
             if ln.strip()]
    mine = [ln for ln in lines if ln.startswith("layerwise: ")]
    last = (mine or lines or [""])[-1]
    return last[:300]


def _agent_error(agent_log: str) -> str:
    """The agent's own error (e.g. the rendezvous failing), in one line."""
    for pattern, say in (
            (r"RendezvousTimeoutError", "the other machines did not join the rendezvous in "
                                        "time (--join-timeout)"),
            (r"RendezvousConnectionError|The connect to .* timed out|Connection refused",
             "the rendezvous endpoint could not be reached"),
            (r"cannot be retrieved|Name or service not known|nodename nor servname",
             "the rendezvous host name does not resolve")):
        if re.search(pattern, agent_log):
            return say
    errors = [ln for ln in agent_log.splitlines() if re.match(r"^\w+(\.\w+)*(Error|Exception)",
                                                             ln)]
    return errors[-1][:300] if errors else "torchrun failed before any rank ran"


def summary(result: JobResult) -> list[str]:
    """A few lines on a failed job: each failed rank, its host and message, and the logs."""
    lines = []
    if result.failures:
        lines.append(f"launch: the job failed: {result.failures[0].describe()}")
        lines += [f"launch: also {f.describe()}" for f in result.failures[1:]]
    if result.agent_error or not result.failures:
        lines.append(f"launch: {'the job failed: ' if not result.failures else ''}"
                     f"{result.agent_error or 'torchrun failed before any rank ran'}")
    lines.append(f"launch: torchrun's full log is {result.log}; each rank's output is under "
                 f"{result.log_dir}")
    return lines
