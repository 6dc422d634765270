"""One memory budget for everything a file header, a stored config or a flag sizes.

The budget is the smallest of: the memory the kernel reports available (MemAvailable, which
counts what other processes use), the cgroup's limit less its current use (containers, CI
runners, systemd slices), and the address-space limit (`ulimit -v`, RLIMIT_AS) less this
process's current size. A request above it is refused in one sentence before anything is
allocated, instead of failing in the allocator (or in the kernel's OOM killer) halfway through.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from layerwise.errors import ConfigError

CGROUP = Path("/sys/fs/cgroup")


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux: physical memory, the old bound
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _cgroup_left() -> int | None:
    """The cgroup's limit less its use (v2, else v1), or None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":  # v2 unified hierarchy
            base = CGROUP / rel.lstrip("/")
            limit, used = _read_int(base / "memory.max"), _read_int(base / "memory.current")
        elif "memory" in controllers.split(","):
            base = CGROUP / "memory" / rel.lstrip("/")
            limit = _read_int(base / "memory.limit_in_bytes")
            used = _read_int(base / "memory.usage_in_bytes")
            if limit is not None and limit >= 1 << 60:  # v1's "unlimited"
                limit = None
        else:
            continue
        if limit is not None:
            return max(limit - (used or 0), 0)
    return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        size = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        size = 0
    return max(soft - size, 0)


def budget() -> tuple[int | None, str]:
    """(bytes this process may still allocate, which bound sets it), or (None, "") where no
    bound can be read."""
    bounds = {"available memory": _meminfo_available(), "the cgroup's memory limit":
              _cgroup_left(), "the address-space limit (ulimit -v)": _address_space_left()}
    known = {k: v for k, v in bounds.items() if v is not None}
    if not known:
        return None, ""
    which = min(known, key=known.get)
    return known[which], which


def gigabytes(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def check_fits(nbytes: int, what: str, error: type[Exception] = ConfigError) -> None:
    """Refuse, in one sentence naming `what`, to allocate `nbytes` above the budget."""
    left, which = budget()
    if left is not None and nbytes > left:
        raise error(f"{what} needs about {gigabytes(nbytes)} but only {gigabytes(left)} can "
                    f"be allocated here ({which}); make it smaller.")
