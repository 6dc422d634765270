"""Small file utilities shared by the data layer: hashing and atomic writes."""

from __future__ import annotations

import contextlib
import errno
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


def writable_dir(path: Path, flag: str) -> None:
    """Refuse, before any work, an output directory that cannot be created or written (a
    read-only file system, no permission, a file in the way), naming `flag`. Creates nothing:
    the nearest existing ancestor is checked instead of a directory not there yet."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"{flag} {path}: {probe} is a file, so the directory cannot be made.")
    if not os.access(probe, os.W_OK | os.X_OK) or _read_only(probe):
        why = "is on a read-only file system" if _read_only(probe) else "is not writable"
        raise DataError(f"{flag} {path}: {probe} {why}; choose a location this run can write.")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


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


# What a failed write tells the user, by errno; anything else gives the system's own words.
_WRITE_ERRORS = {errno.ENOSPC: "the file system is full", errno.EDQUOT: "the disk quota is used up",
                 errno.EROFS: "the file system is read-only",
                 errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                 errno.ENAMETOOLONG: "the name is longer than the file system allows",
                 errno.EPIPE: "the reader went away"}


def write_reason(exc: OSError) -> str:
    """Why a write failed, in words: "the file system is full"..."""
    return _WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))


def write_error(path: str | Path, exc: OSError) -> DataError:
    """One sentence for a write of `path` that failed with `exc`."""
    return DataError(f"cannot write {path}: {write_reason(exc)}; nothing was written (choose "
                     "another location or free some space).")


def output_target(path: str | Path) -> Path:
    """The file a write to `path` replaces: `path` itself, or a symlink's target (outputs are
    written through symlinks, atomically at the target); refuses, in one sentence, a name
    longer than the file system allows, a symlink loop, and an existing path that is not a
    regular file (a directory, a device such as /dev/null, a FIFO)."""
    path = Path(path)
    check_name(path)
    if path.is_symlink():
        try:
            path = Path(os.path.realpath(path, strict=True))
        except FileNotFoundError:  # a dangling link: written through, creating its target
            path = Path(os.path.realpath(path))
        except OSError:  # ELOOP: no file at the end of the links
            raise DataError(f"{path} is a symlink that leads back to itself (a loop); "
                            "layerwise cannot write through it, so give the path of a "
                            "file.") from None
    if path.exists() and not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file (a device, FIFO or socket)"
        raise DataError(f"{path} is {kind}; layerwise writes its outputs only as regular files, "
                        "so give the path of a file.")
    return path


def check_name(path: str | Path, flag: str = "") -> None:
    """Refuse, before anything looks at it (stat itself fails on such a name), a path with a
    component longer than its file system allows or longer than the system's path limit;
    the sentence names `flag` where given."""
    path = Path(path)
    said = f"{flag} " if flag else ""
    limit = _name_max(path.parent)
    for part in path.parts:
        if len(part.encode()) > limit:
            raise DataError(f"cannot write {said}{_shorten(path)}: the name {part[:40]}... is "
                            f"longer than the file system allows ({limit} bytes).")
    if len(os.fsencode(os.path.abspath(path))) >= _PATH_MAX:
        raise DataError(f"cannot write {said}{_shorten(path)}: the path is longer than the "
                        f"system allows ({_PATH_MAX} bytes).")


def _shorten(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else text[:60] + "..." + text[-40:]


_PATH_MAX = 4096  # Linux: a path with its terminating NUL


def _name_max(directory: Path) -> int:
    """NAME_MAX of the file system `directory` (or its nearest existing ancestor) is on."""
    try:
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):  # an ancestor whose own name is too long: Linux's usual
        return 255


class RecordingWriter:
    """A file object whose `write` remembers the OSError it raised: torch.save turns it into a
    RuntimeError of its own, and this keeps the cause (ENOSPC, EROFS...) for the user."""

    def __init__(self, f: BinaryIO):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.f.flush()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path`; rename it onto `path` only if the block succeeds.

    On any exception the temporary file is removed, so `path` is either the old file or the
    complete new one, never a partial write. A symlink is written through to its target; an
    existing path that is not a regular file is refused; a write that fails (full or read-only
    file system, permissions, a name too long) is one DataError sentence.
    """
    shown, path = path, output_target(path)
    _output_dir(path.parent, shown)
    remove_stale_parts(path)
    # The temporary name is short whatever the final name's length (a name near the 255-byte
    # limit must still be writable), and carries this process's id so that the next writer of
    # the same path can tell a leftover of a dead process from a live write.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_part_prefix(path)}{os.getpid()}.",
                                   suffix=".part", dir=path.parent)
    except OSError as exc:
        raise write_error(shown, exc) from None
    try:
        # mkstemp makes the file private (0600); give it the mode any new file would get.
        os.fchmod(fd, default_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise write_error(shown, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _output_dir(directory: Path, shown: str | Path) -> None:
    """Create the directory an output `shown` goes to; a failure is `write_error`'s sentence
    about the output (not the data cache's advice that `ensure_dir` gives)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(shown, exc) from None
    if _read_only(directory):
        raise write_error(shown, OSError(errno.EROFS, "read-only"))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise write_error(shown, OSError(errno.EACCES, "permission denied"))


def atomic_write_set(contents: dict[Path, bytes]) -> list[Path]:
    """Write several files as one: `contents` maps each path to its bytes. Every file is
    written to its temporary file first and the renames happen only once all are complete,
    with ending signals held until the last, so a failure or a signal leaves the old set (or
    none), never a CSV without its plot."""
    from layerwise import signals

    paths = list(contents)
    with signals.deferred(), contextlib.ExitStack() as stack:
        for path in paths:
            f = stack.enter_context(atomic_output(path))
            f.write(contents[path])
            f.flush()  # a full disk fails here, before any file of the set is renamed
            os.fsync(f.fileno())
    return paths


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
