"""Several simulated hosts on one Linux machine, to try multi-node jobs without a cluster.

`SimulatedHosts(n)` makes n network namespaces joined by a bridge that lives in a namespace of
its own, so the machine's own interfaces and addresses are never touched. Host i gets the
address 10.77.0.(i+1)/24 inside its namespace, the hostname `lwhostI` (each command runs in a
UTS namespace of its own) and a hosts file naming every host (`ip netns exec` mounts
/etc/netns/NAME/hosts over /etc/hosts). `link(rate=, delay=)` shapes every host's outgoing
traffic with netem; `cut(i)` takes host i's link down. Everything is removed on exit, also
after an error or Ctrl-C, and namespaces left by a killed run (their creator's pid is gone)
are removed by the next one. Needs root and iproute2; `available()` says why not otherwise.

    with SimulatedHosts(2) as hosts:
        p = hosts.popen(0, ["layerwise", "launch", ...])
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from layerwise.data.files import alive
from layerwise.errors import ConfigError, LayerwiseError

PREFIX = "lwsim"
SUBNET = "10.77.0"
NETNS_ETC = Path("/etc/netns")


class HostsError(LayerwiseError):
    """Simulated hosts cannot be made here."""


def available() -> str | None:
    """None when simulated hosts can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "simulated hosts need root (network and UTS namespaces)"
    for tool in ("ip", "unshare", "tc"):
        if shutil.which(tool) is None:
            return f"simulated hosts need `{tool}` (iproute2 / util-linux)"
    probe = f"{PREFIX}{os.getpid()}probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()[:200]}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise HostsError(f"`{' '.join(argv)}` failed: {done.stderr.strip()[:300]}")
    return done


def _terminate_like_interrupt():
    """While hosts exist, SIGTERM unwinds like Ctrl-C so that they are removed; returns the
    handler it replaced (None off the main thread, where handlers cannot be set)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, interrupt)
            return previous or signal.SIG_DFL
    except ValueError:
        pass
    return None


def remove_stale() -> list[str]:
    """Remove namespaces (and their hosts files) made by runs whose process is gone."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    removed = []
    for name in re.findall(rf"^({PREFIX}(\d+)\S*)", listed, flags=re.M):
        ns, pid = name
        if not alive(int(pid)):
            for left in _ip("netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(left), signal.SIGKILL)
            _ip("netns", "del", ns, check=False)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
            removed.append(ns)
    return removed


class SimulatedHosts:
    """n hosts joined by a bridge; a context manager that removes everything it made."""

    def __init__(self, n: int = 2):
        if n < 1 or n > 200:
            raise HostsError(f"simulated hosts: give between 1 and 200, got {n}.")
        self.n = n
        tag = f"{PREFIX}{os.getpid()}x{id(self) % 10000}"
        self.switch = f"{tag}sw"
        self.namespaces = [f"{tag}h{i}" for i in range(n)]
        self.hostnames = [f"lwhost{i}" for i in range(n)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(n)]
        self.interface = "eth0"  # every host's interface, as GLOO_SOCKET_IFNAME names it
        self._made: list[str] = []

    def __enter__(self) -> SimulatedHosts:
        reason = available()
        if reason:
            raise HostsError(reason)
        remove_stale()
        self._previous = _terminate_like_interrupt()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _build(self) -> None:
        _ip("netns", "add", self.switch)
        self._made.append(self.switch)
        _ip("link", "add", "br0", "type", "bridge", ns=self.switch)
        _ip("link", "set", "br0", "up", ns=self.switch)
        hosts_file = "127.0.0.1 localhost\n" + "".join(
            f"{a} {h}\n" for a, h in zip(self.addresses, self.hostnames, strict=True))
        for i, ns in enumerate(self.namespaces):
            _ip("netns", "add", ns)
            self._made.append(ns)
            # Made inside the switch namespace, one end then moved into the host's.
            _ip("link", "add", f"p{i}", "type", "veth", "peer", "name", f"h{i}", ns=self.switch)
            _ip("link", "set", f"h{i}", "netns", ns, ns=self.switch)
            _ip("link", "set", f"p{i}", "master", "br0", ns=self.switch)
            _ip("link", "set", f"p{i}", "up", ns=self.switch)
            _ip("link", "set", f"h{i}", "name", self.interface, ns=ns)
            _ip("addr", "add", f"{self.addresses[i]}/24", "dev", self.interface, ns=ns)
            _ip("link", "set", self.interface, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)
            etc = NETNS_ETC / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts_file)
            (etc / "hostname").write_text(self.hostnames[i] + "\n")

    def close(self) -> None:
        for i in range(len(self.namespaces)):
            if self.namespaces[i] in self._made:
                self.kill(i)  # nothing started on a host outlives it
        for ns in reversed(self._made):
            _ip("netns", "del", ns, check=False)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        self._made.clear()

    def argv(self, i: int, command: list[str]) -> list[str]:
        """`command` run on host i: in its network namespace, with its own hostname."""
        return ["ip", "netns", "exec", self.namespaces[i], "unshare", "--uts", "sh", "-c",
                'hostname "$0" && exec "$@"', self.hostnames[i], *command]

    def popen(self, i: int, command: list[str], env: dict | None = None,
              **kwargs) -> subprocess.Popen:
        """Start `command` on host i in a process group of its own (see `kill`)."""
        env = {**os.environ, **(env or {})}
        return subprocess.Popen(self.argv(i, command), env=env, start_new_session=True,
                                **kwargs)

    def launch(self, command: list[str], port: int = 29400, threads: int = 1,
               extra: tuple[str, ...] = (), **popen) -> list[subprocess.Popen]:
        """Start `layerwise launch` of the layerwise `command` on every host, one process
        each with `threads` threads, meeting at the first host; returns the Popen objects."""
        import sys

        launch = [sys.executable, "-m", "layerwise", "launch", "--nnodes", str(self.n),
                  "--nproc-per-node", "1", "--rdzv-endpoint", f"{self.hostnames[0]}:{port}",
                  *extra, "--"]
        return [self.popen(i, [*launch, *command], env={"OMP_NUM_THREADS": str(threads)},
                           **popen) for i in range(self.n)]

    def run(self, i: int, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(i, command), capture_output=True, text=True, **kwargs)

    def pids(self, i: int) -> list[int]:
        """Every process running on host i (in its network namespace)."""
        done = _ip("netns", "pids", self.namespaces[i], check=False)
        return [int(p) for p in done.stdout.split()]

    def kill(self, i: int, sig: int = signal.SIGKILL) -> list[int]:
        """Send `sig` to every process on host i, as a host losing power would (torchrun's
        ranks run in sessions of their own, so a process group would not reach them)."""
        pids = self.pids(i)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def cut(self, i: int) -> None:
        """Take host i's link down (as a pulled cable would)."""
        _ip("link", "set", self.interface, "down", ns=self.namespaces[i])

    def link(self, rate: str | None = None, delay: str | None = None) -> str:
        """Shape every host's outgoing traffic to `rate` (e.g. "1gbit") with `delay` added
        ("0.1ms"); both None remove the shaping. netem does both; where the kernel has no
        netem, tbf shapes the rate and a delay is refused. Returns the qdisc used."""
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev",
                            self.interface, "root"], capture_output=True)
        if rate is None and delay is None:
            return "none"
        netem = [*(["delay", delay] if delay else []), *(["rate", rate] if rate else []),
                 "limit", "100000"]  # a queue long enough to delay a burst, not drop it
        if self._qdisc(netem, "netem"):
            return "netem"
        if delay:
            raise HostsError("this kernel has no netem queueing discipline, so a link delay "
                             "cannot be simulated; give a rate only (shaped by tbf).")
        bits = bits_per_second(rate)
        # A bucket of half a millisecond at full rate (two frames at least): small messages
        # are serialised at the rate, not let through at once as a larger bucket would.
        burst = max(2 * 1514, int(bits / 8 * 0.0005))
        tbf = ["rate", rate, "burst", str(burst), "latency", "200ms"]
        if self._qdisc(tbf, "tbf"):
            return "tbf"
        raise HostsError(f"neither netem nor tbf can shape {rate} here.")

    def _qdisc(self, options: list[str], kind: str) -> bool:
        for ns in self.namespaces:
            done = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev",
                                   self.interface, "root", kind, *options],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                return False
        return True


def bits_per_second(rate: str) -> float:
    """tc's rate syntax (100mbit, 1gbit, 10gbit, 500kbit) in bits per second."""
    m = re.fullmatch(r"([0-9.]+)\s*([kmgt]?)(bit|bps)?", rate.strip().lower())
    if not m:
        raise ConfigError(f"cannot read the link rate {rate!r}; write e.g. 1gbit or 100mbit.")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2)]
    return float(m.group(1)) * scale * (8 if m.group(3) == "bps" else 1)
