"""Downloads that never leave a partial or unverified file behind.

Each file is streamed from the first mirror that works into a temporary file beside its
destination, hashed on the way, checked against the catalog's size and checksums, and only then
renamed into place. A mirror that fails (refused, unreachable, interrupted, wrong checksum) is
reported and the next one is tried.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from layerwise.data.catalog import DatasetSpec, FileSpec
from layerwise.data.files import CHUNK, atomic_output, ensure_dir, file_digest
from layerwise.errors import DataError

TIMEOUT_S = 30.0


class _MirrorFailed(Exception):
    """One mirror could not deliver a verified file; the message says why."""


class DownloadFailed(DataError):
    """No mirror delivered a verified copy of a file (or none is known)."""


def mirrors_for(spec: DatasetSpec) -> tuple[str, ...]:
    """Base URLs to try, in order: those in LAYERWISE_MIRRORS (comma-separated) first."""
    extra = tuple(m.strip() for m in os.environ.get("LAYERWISE_MIRRORS", "").split(",")
                  if m.strip())
    return tuple(m if m.endswith("/") else m + "/" for m in (*extra, *spec.mirrors))


def check_digests(fspec: FileSpec, md5: str, sha256: str) -> str | None:
    """Return None if the published checksums match, else a description of the mismatch."""
    if fspec.md5 and md5 != fspec.md5:
        return f"MD5 {md5} differs from the published {fspec.md5}"
    if fspec.sha256 and sha256 != fspec.sha256:
        return f"SHA-256 {sha256} differs from the expected {fspec.sha256}"
    return None


def _fetch_one(url: str, fspec: FileSpec, dest: Path, progress: bool, timeout: float) -> None:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - catalog URLs
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _MirrorFailed(f"unreachable ({getattr(exc, 'reason', exc)})") from None
    with response, atomic_output(dest) as out:
        declared = response.headers.get("Content-Length")
        total = int(declared) if declared and declared.isdigit() else fspec.size
        received = 0
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=fspec.name,
                   disable=None if progress else True, leave=False)
        with bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except (http.client.IncompleteRead, OSError) as exc:
                    raise _MirrorFailed(f"transfer interrupted after {received} bytes "
                                        f"({type(exc).__name__})") from None
                if not block:
                    break
                out.write(block)
                md5.update(block)
                sha.update(block)
                received += len(block)
                bar.update(len(block))
        if declared and declared.isdigit() and received != int(declared):
            raise _MirrorFailed(f"transfer interrupted: {received} of {declared} bytes arrived")
        if fspec.size is not None and received != fspec.size:
            raise _MirrorFailed(f"got {received} bytes, the published file has {fspec.size}")
        mismatch = check_digests(fspec, md5.hexdigest(), sha.hexdigest())
        if mismatch:
            raise _MirrorFailed(f"checksum mismatch: {mismatch}")


def download_file(fspec: FileSpec, mirrors: tuple[str, ...], dest: Path,
                  progress: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Download `fspec` into `dest` from the first mirror that delivers a verified copy."""
    if not mirrors:
        raise DownloadFailed(f"no download location is known for {fspec.name}.")
    ensure_dir(dest.parent)
    failures: dict[str, list[str]] = {}  # why -> the URLs that failed so
    for base in mirrors:
        url = base + fspec.name
        try:
            _fetch_one(url, fspec, dest, progress, timeout)
            return dest
        except _MirrorFailed as exc:
            failures.setdefault(str(exc), []).append(url)
    # Offline, every mirror fails the same way: say the reason once, not once per URL.
    said = "; ".join(f"{', '.join(urls)}: {why}" for why, urls in failures.items())
    raise DownloadFailed(f"could not download {fspec.name} from any mirror ({said}).")


def extract_archive(spec: DatasetSpec, archive: Path, dest: Path) -> None:
    """Unpack the members of `spec.archive_dir` that the catalog lists, and verify each.

    Only regular files whose names the catalog expects are extracted (no links, no paths that
    climb out of `dest`), each atomically.
    """
    wanted = {f"{spec.archive_dir}/{f.name}": f for f in spec.files}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                fspec = wanted.pop(member.name, None)
                if fspec is None or not member.isfile():
                    continue
                with tar.extractfile(member) as src, atomic_output(dest / fspec.name) as out:
                    for block in iter(lambda s=src: s.read(CHUNK), b""):
                        out.write(block)
                if fspec.md5 and file_digest(dest / fspec.name, "md5") != fspec.md5:
                    (dest / fspec.name).unlink()
                    raise DataError(f"{fspec.name} in {archive} fails its published MD5.")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive} cannot be unpacked ({exc}); delete it and fetch again.") \
            from None
    if wanted:
        raise DataError(f"{archive} lacks {', '.join(sorted(wanted))}.")


def download_dataset(spec: DatasetSpec, dest: Path, progress: bool = True) -> None:
    """Download every file of `spec` into directory `dest` (unpacking its archive if any).

    All or nothing: when any file fails, the files this call wrote and the directories it
    created are removed again (a dataset half there would stop the next resolution), and the
    error ends with the catalog's way to get the dataset without a network."""
    new_dirs = [d for d in (dest, *dest.parents) if not d.exists()]  # deepest first
    names = [f.name for f in (*spec.files, *([spec.archive] if spec.archive else []))]
    new_files = [dest / n for n in names if not (dest / n).exists()]
    try:
        _download_all(spec, dest, progress)
    except BaseException as exc:  # a failure, Ctrl-C or SIGTERM: undo, then let it go on
        _undo(new_files, new_dirs)
        if isinstance(exc, DownloadFailed):
            raise DownloadFailed(f"{str(exc).rstrip('.')}; without a network, "
                                 f"{spec.offline_route}.") from None
        raise


def _undo(files: list[Path], dirs: list[Path]) -> None:
    """Remove `files` where they exist, then `dirs` (deepest first) while they are empty."""
    for path in files:
        if path.is_file():
            path.unlink()
    for directory in dirs:
        try:
            directory.rmdir()
        except OSError:  # not empty (someone else's files), never made, or already gone
            if directory.exists():
                break


def _download_all(spec: DatasetSpec, dest: Path, progress: bool) -> None:
    mirrors = mirrors_for(spec)
    if spec.archive is not None:
        archive = download_file(spec.archive, mirrors, dest / spec.archive.name, progress)
        extract_archive(spec, archive, dest)
        archive.unlink()
        return
    for fspec in spec.files:
        if not (dest / fspec.name).exists():
            download_file(fspec, mirrors, dest / fspec.name, progress)
