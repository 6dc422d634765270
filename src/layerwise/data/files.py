"""Small file utilities shared by the data layer: hashing and atomic writes."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from layerwise.errors import DataError

CHUNK = 1 << 20


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file's bytes as stored (not decompressed)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def ensure_dir(path: Path) -> Path:
    """Create `path` (and parents), turning permission problems into a clear DataError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create directory {path}: {exc.strerror or exc}; choose a writable "
            "location with --data-dir or the LAYERWISE_CACHE environment variable."
        ) from None
    if not os.access(path, os.W_OK):
        raise DataError(
            f"directory {path} is not writable; choose a writable location with --data-dir "
            "or the LAYERWISE_CACHE environment variable."
        )
    return path


def umask() -> int:
    """The process's file-creation mask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, then put back at once
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode a new file (or directory) gets from open() (mkdir()) under the umask."""
    return (0o777 if directory else 0o666) & ~umask()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds.

    On any exception the temporary file is removed, so `path` is either the old file or the
    complete new one, never a partial write.
    """
    path = Path(path)
    ensure_dir(path.parent)
    remove_stale_parts(path)
    # The temporary name is short whatever the final name's length (a name near the 255-byte
    # limit must still be writable), and carries this process's id so that the next writer of
    # the same path can tell a leftover of a dead process from a live write.
    fd, tmp = tempfile.mkstemp(prefix=f"{_part_prefix(path)}{os.getpid()}.", suffix=".part",
                               dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        os.fchmod(fd, default_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _part_prefix(path: Path) -> str:
    return f".{path.name[:40]}."


def remove_stale_parts(path: Path) -> list[Path]:
    """Remove temporary files beside `path` left by writers of it that no longer run (killed
    mid-write); return what was removed."""
    removed = []
    prefix = _part_prefix(path)
    for part in path.parent.glob(f"{glob.escape(prefix)}*.part"):
        pid = part.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            with contextlib.suppress(OSError):
                part.unlink()
                removed.append(part)
    return removed


def alive(pid: int) -> bool:
    """Whether process `pid` runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file, then rename)."""
    with atomic_output(path) as f:
        f.write(data)
