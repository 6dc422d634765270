"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is one file written by `torch.save` through a temporary file and a rename. It holds
only tensors and plain Python values (dicts, lists, strings, numbers), so it is loaded with
`torch.load(weights_only=True)`, which refuses to unpickle arbitrary objects:

    format      "layerwise-checkpoint", version 1
    kind        "supervised" (RBMs use their own kind)
    model       ModelConfig as a dict: rebuilds the architecture
    state       model.state_dict()
    optimizer   optimizer.state_dict() (absent for inference-only checkpoints)
    train       TrainConfig as a dict
    step        optimizer steps taken
    rng         torch CPU RNG state, CUDA RNG states, and the batch-order generator's state
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch

from layerwise import signals
from layerwise.data.files import (
    RecordingWriter,
    atomic_output,
    ensure_dir,
    output_target,
    write_error,
)
from layerwise.errors import ConfigTypeError, DataError, LayerwiseError
from layerwise.memory import check_fits

FORMAT, VERSION = "layerwise-checkpoint", 1


def rng_states(batch_state: torch.Tensor | None) -> dict:
    """Every RNG whose state decides what happens next: CPU, each CUDA device, batch order."""
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if batch_state is not None:
        states["batches"] = batch_state.cpu()
    return states


def restore_rng(states: dict) -> None:
    """Restore the global CPU and CUDA generators (dropout masks, initialisation)."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str | Path, *, kind: str, model_config: dict, state: dict,
                    step: int = 0, optimizer: dict | None = None, train_config=None,
                    batch_state: torch.Tensor | None = None, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    payload = {
        "format": FORMAT, "version": VERSION, "kind": kind, "model": model_config,
        "state": {k: v.detach().cpu() for k, v in state.items()}, "step": step,
        "rng": rng_states(batch_state),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer
    if train_config is not None:
        payload["train"] = dataclasses.asdict(train_config)
    if extra:
        payload["extra"] = extra
    with atomic_output(path) as f:
        write_torch(payload, f, path)
    return path


def write_torch(payload, f, path: str | Path) -> None:
    """`torch.save(payload, f)` with signals held until it returns (an exception raised inside
    torch's write callback would garble into its own RuntimeError) and a failed write reported
    by its cause (no space, read-only...), one sentence."""
    writer = RecordingWriter(f)
    with signals.deferred():
        try:
            torch.save(payload, writer)
        except RuntimeError:
            if writer.error is None:
                raise
            raise write_error(path, writer.error) from None


def check_archive(path: Path) -> None:
    """Refuse, before `torch.load` unpacks anything, an archive whose storages could not have
    come from torch.save (compressed entries: a small file that inflates to gigabytes) or whose
    declared sizes exceed the memory budget."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: torch.load's own check names it below
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise DataError(f"{path} holds compressed entries, which torch.save never writes; "
                        "it is not a layerwise checkpoint.")
    check_fits(sum(e.file_size for e in entries), f"loading {path}", DataError)


def _check_values(path: Path, payload: dict) -> None:
    """The stored step, optimizer and weights have the types and values a run wrote."""
    step = payload.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise DataError(f"{path} is a damaged layerwise checkpoint: its step is {step!r}, not "
                        "a whole number of steps.")
    rng = payload.get("rng", {})
    if not isinstance(rng, dict) or not all(
            isinstance(v, torch.Tensor) or isinstance(v, list) and all(
                isinstance(t, torch.Tensor) for t in v) for v in rng.values()):
        raise DataError(f"{path} is a damaged layerwise checkpoint: its random number "
                        "generator states are not tensors.")
    for key in ("optimizer", "train", "extra"):
        if key in payload and not isinstance(payload[key], dict):
            raise DataError(f"{path} is a damaged layerwise checkpoint: its {key} entry is "
                            f"a {type(payload[key]).__name__}, not a mapping.")
    extra = payload.get("extra", {})
    for key, kind in (("dataset", str), ("classes", list)):
        if key in extra and not (isinstance(extra[key], kind) and (
                kind is str or all(isinstance(c, str) for c in extra[key]))):
            raise DataError(f"{path} is a damaged layerwise checkpoint: its extra {key!r} is "
                            f"{extra[key]!r:.60}, not {'a name' if kind is str else 'names'}.")
    for name, t in payload["state"].items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise DataError(f"{path} holds non-finite weights (NaN or infinity in {name}); "
                            "it cannot be used: resume from an earlier checkpoint.")


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict:
    """Load a checkpoint without unpickling arbitrary objects; check its format and kind."""
    if not isinstance(path, str | os.PathLike):
        raise ConfigTypeError(f"the checkpoint path must be a string or a pathlib.Path, got "
                              f"{path!r} ({type(path).__name__}).")
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a checkpoint file; give the path of the "
                        ".pt file a run wrote.")
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist.")
    check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a global: the file holds code
        raise DataError(f"{path} holds code, not only tensors; refused (layerwise never runs "
                        "code from a checkpoint).") from None
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        # torch's first sentence only: the rest is advice for torch's own developers
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else ""
        if len(first) > 200:
            first = first[:200].rsplit(" ", 1)[0] + "..."
        why = first if len(first) > 12 else f"{type(exc).__name__}: {first}".strip(": ")
        with open(path, "rb") as f:
            head = f.read(16)
        if not head.startswith((b"PK", b"\x80")):  # neither torch's zip nor a legacy pickle
            what = f"this file begins {head!r}" if head else "this file is empty"
            raise DataError(f"{path} is not a checkpoint: checkpoints are the zip archives "
                            f"torch writes, and {what}.") from None
        raise DataError(f"{path} is not a readable layerwise checkpoint ({why}).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(f"{path} is not a layerwise checkpoint.")
    version = payload.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise DataError(f"{path} is a damaged layerwise checkpoint: its format version is "
                        f"{version!r}.")
    if version > VERSION:
        raise DataError(f"{path} was written by a newer layerwise (format version "
                        f"{payload['version']}); upgrade layerwise to read it.")
    if not isinstance(payload.get("kind"), str):
        raise DataError(f"{path} is a damaged layerwise checkpoint: its kind is "
                        f"{payload.get('kind')!r}, not a name.")
    if kind is not None and payload.get("kind") != kind:
        names = {"rbm": "an RBM", "supervised": "a supervised model"}
        held = names.get(payload.get("kind"), f"a {payload.get('kind')!s} model")
        raise DataError(f"{path} holds {held}, not {names.get(kind, kind)}.")
    state = payload.get("state")
    if not isinstance(payload.get("model"), dict) or not isinstance(state, dict) or not all(
            isinstance(t, torch.Tensor) for t in state.values()):
        raise DataError(f"{path} is a damaged layerwise checkpoint: its model description or "
                        "weights are missing.")
    _check_values(path, payload)
    return payload


def load_state_checked(model: torch.nn.Module, payload: dict, path: str | Path) -> None:
    """Load weights, turning an architecture mismatch into one clear sentence."""
    own = model.state_dict()
    theirs = payload["state"]
    mismatched = sorted(set(own) ^ set(theirs)) or [
        k for k in own if tuple(own[k].shape) != tuple(theirs[k].shape)]
    if mismatched:
        raise DataError(f"{path} holds a {payload['model'].get('name', '?')} model of another "
                        f"architecture (first difference: {mismatched[0]}); it cannot be loaded "
                        "into this one.")
    model.load_state_dict(theirs)


def load_optimizer_checked(optimizer: torch.optim.Optimizer, payload: dict,
                           path: str | Path) -> None:
    """Restore the optimizer's state from a checkpoint being resumed; a state that does not
    fit it (damaged, or another optimizer's) is one sentence naming the file."""
    try:
        optimizer.load_state_dict(payload["optimizer"])
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise DataError(f"{path} is damaged: its optimizer state cannot be restored "
                        f"({type(exc).__name__}: {str(exc)[:120]}); resume from an earlier "
                        "checkpoint.") from None


def checked_rng(payload: dict, path: str | Path, required: tuple[str, ...]) -> dict:
    """The random generators' states of a checkpoint being resumed, each of the `required`
    ones present and a state a CPU generator accepts; otherwise one sentence naming the
    file and the generator."""
    states = payload.get("rng", {})
    for key in required:
        if not _generator_state(states.get(key)):
            raise DataError(f"{path} is damaged: its {key!r} random generator state is "
                            "missing or not one a generator takes, so its run cannot be "
                            "continued exactly; resume from an earlier checkpoint.")
    return states


def _generator_state(state) -> bool:
    """Whether `state` is a state a CPU generator takes, or a CUDA one's (16 bytes: its seed
    and offset; the batch order of a run on a GPU is drawn there)."""
    if not isinstance(state, torch.Tensor) or state.dtype != torch.uint8 or state.dim() != 1:
        return False
    try:
        torch.Generator().set_state(state)
    except RuntimeError:
        return state.numel() == 16
    return True


@contextlib.contextmanager
def claim(path: str | Path | None) -> Iterator[None]:
    """Hold an advisory lock on checkpoint `path` for a run's duration, so that a second run
    given the same path is refused in one sentence naming the first, instead of the two
    rewriting the file in turn. The lock (`.NAME.lock` beside the file, flock(2)) ends with
    the process however it ends; the file is removed when the run ends normally."""
    if path is None:
        yield
        return
    import fcntl

    target = output_target(path)
    ensure_dir(target.parent)
    lock = target.parent / f".{target.name[:200]}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise write_error(lock, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise DataError(f"{path} is being written by another layerwise run ({holder}); wait "
                        "for it to end or give this run another checkpoint path.") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%H:%M:%S')}".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def stored_config(cls, stored, path: str | Path, what: str, required: tuple[str, ...] = ()):
    """The config dataclass `cls` a checkpoint or manifest at `path` stores as `what` (e.g.
    "model"), checked against the dataclass: a mapping, no unknown keys, the `required` ones
    present, values the config accepts; otherwise one DataError naming the file and the key."""
    if not isinstance(stored, dict):
        raise DataError(f"{path} is damaged: its {what} entry is a {type(stored).__name__}, "
                        "not a mapping.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(stored) - names)
    needed = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
              and f.default_factory is dataclasses.MISSING]  # the config cannot do without
    missing = [k for k in (*needed, *required) if k not in stored]
    if unknown or missing:
        which = f"unknown key {unknown[0]!r}" if unknown else f"no {missing[0]!r}"
        raise DataError(f"{path} is damaged or from another program: its {what} entry has "
                        f"{which}.")
    odd = next((k for k, v in stored.items() if not _plain(v)), None)
    if odd is not None:
        raise DataError(f"{path} is damaged: its stored {what} holds a "
                        f"{type(stored[odd]).__name__} for {odd!r}, where configs hold plain "
                        "numbers, names and lists of them.")
    try:
        return cls.from_dict(stored) if hasattr(cls, "from_dict") else cls(**stored)
    except (TypeError, ValueError, KeyError, RuntimeError, LayerwiseError) as exc:
        raise DataError(f"{path} is damaged: its stored {what} is invalid ({exc})") from None


def build_stored(build, cfg, path: str | Path):
    """`build(cfg)` for a config read from the checkpoint at `path`: a value its validation let
    through but that no model can be built from is one DataError naming the file."""
    try:
        return build(cfg)
    except (TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise DataError(f"{path} describes a model that cannot be built ({exc}).") from None


def _plain(value) -> bool:
    """Whether `value` is what a config field stores: None, a bool, number or string, or a
    list or tuple of those."""
    if isinstance(value, (list, tuple)):
        return all(_plain(v) and not isinstance(v, (list, tuple)) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))
