"""Inference checkpoints of trained models: `save_model` and `load_model`.

What is saved is what rebuilds the architecture, never code: a course model's ModelConfig, a
DBN's layer sizes, or, for a module built outside layerwise, its class's import path and the
keyword arguments it is built with (`init_args`, plain values). Files are read with
`torch.load(weights_only=True)`.

`load_model` rebuilds a user module only from a class whose module is already imported (it
never imports a module a file names: importing runs that module's code), by `cls(**init_args)`;
otherwise, or when that fails, it says to pass the module: `load_model(path, module=MyNet())`
loads the weights into the module given.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import torch
from torch import nn

from layerwise.checkpoint import (
    build_stored,
    load_checkpoint,
    load_state_checked,
    save_checkpoint,
    stored_config,
)
from layerwise.errors import ConfigTypeError, DataError

CUSTOM = {"name": "custom"}  # what a checkpoint of a model built outside layerwise records


def custom_record(net: nn.Module) -> dict:
    """What a checkpoint records of a module built outside layerwise: its class's import
    path, so that `load_model` can rebuild it (see `layerwise.train.saving`)."""
    return {**CUSTOM, "class": f"{type(net).__module__}.{type(net).__qualname__}"}


def save_model(model, path: str | Path, *, model_config=None, init_args: dict | None = None
               ) -> Path:
    """Write `model` as an inference checkpoint that `load_model` (and, for course models,
    `layerwise eval`) opens: a `FitResult` from `fit`, a `DBNResult` from `train_dbn`, or an
    nn.Module: a course model when `model_config` (its ModelConfig) is given, else a user
    module, rebuilt at load time as `type(model)(**init_args)`."""
    from layerwise.rbm.dbn import DBNResult, save_dbn
    from layerwise.runtime import check_path
    from layerwise.train.run import FitResult

    check_path(path, "path")
    if isinstance(model, DBNResult):
        return save_dbn(path, model.network, model.rbms, model.classes, model.dataset,
                        model.prep)
    extra: dict = {}
    if isinstance(model, FitResult):
        model_config, extra = model.model_config, {
            "dataset": model.dataset, "classes": list(model.classes),
            "input_shape": list(model.input_shape), "task": model.task}
        step, model = model.steps, model.model
    elif isinstance(model, nn.Module):
        step = 0
    else:
        raise ConfigTypeError(f"save_model saves a FitResult, a DBNResult or an nn.Module; got "
                              f"a {type(model).__name__}.")
    if model_config is not None:
        record = model_config.to_dict()
    elif init_args:
        record = {**custom_record(model), "init_args": _plain_args(init_args)}
    else:
        record = module_record(model)
    return save_checkpoint(path, kind="supervised", model_config=record,
                           state=model.state_dict(), step=step, extra=extra)


def load_model(path: str | Path, module: nn.Module | None = None) -> nn.Module:
    """The model saved at `path` by `save_model` or a training checkpoint (a course model, a
    DBN or a user module), in eval mode, on the CPU (move it with `.to(device)`); with
    `module`, the weights are loaded into it instead (it keeps its device)."""
    from layerwise.nn.models import ModelConfig, build_model

    payload = load_checkpoint(path)
    if payload["kind"] == "dbn" and module is None:
        from layerwise.rbm.dbn import load_dbn
        return load_dbn(path)
    if payload["kind"] not in ("supervised", "dbn"):
        load_checkpoint(path, kind="supervised")  # says what the file holds instead
    if module is not None:
        load_state_checked(module, payload, path)
        return module.eval()
    if payload["model"].get("name") == CUSTOM["name"]:
        model = _rebuild(payload["model"], path)
        if model is None:
            name = str(payload["model"].get("class", "module"))
            raise DataError(f"{path} holds the weights of a {name} whose construction could "
                            "not be recorded when it was saved (give save_model its init_args "
                            "to record it); pass the module: load_model(path, "
                            f"module={name.rsplit('.', 1)[-1]}(...)).")
    else:
        model = build_stored(build_model, stored_config(ModelConfig, payload["model"], path,
                                                        "model"), path)
    load_state_checked(model, payload, path)
    return model.eval()


def module_record(model: nn.Module) -> dict:
    """How to rebuild `model` without its code: an nn.Sequential as the records of its layers,
    any other module as its class and the constructor arguments read back from the attributes
    of the same names (torch.nn's layers keep them: Linear's in_features, Conv2d's padding,
    Dropout's p). The record is tried here, by building it and comparing parameter and buffer
    shapes; one that does not rebuild the module is marked so ("rebuilds": False), and
    `load_model` then asks for the module instead of building a wrong one."""

    if type(model) is nn.Sequential:
        layers = [module_record(m) for m in model]
        return {**custom_record(model), "layers": layers,
                "rebuilds": all(r.get("rebuilds", True) for r in layers)}
    record = {**custom_record(model), "init_args": _attribute_args(model)}
    try:
        rebuilt = type(model)(**record["init_args"])
        ok = _shapes(rebuilt) == _shapes(model)
    except Exception:  # a user's constructor may raise anything: then it is not rebuildable
        ok = False
    return record if ok else {**custom_record(model), "rebuilds": False}


def _attribute_args(model: nn.Module) -> dict:
    """The constructor's keyword arguments that `model` keeps as attributes of the same name
    and plain value; a bool argument kept as a tensor or None (Linear's bias) is whether it is
    there."""
    try:
        params = inspect.signature(type(model).__init__).parameters
    except (TypeError, ValueError):
        return {}
    args = {}
    for name, p in params.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or \
                not hasattr(model, name):
            continue
        value = getattr(model, name)
        if isinstance(p.default, bool) and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None
        try:
            args[name] = _plain_args({name: value})[name]
        except ConfigTypeError:
            continue  # not a plain value: left to the constructor's default
    return args


def _shapes(model: nn.Module) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _rebuild(record: dict, path) -> nn.Module | None:
    """A user module from its recorded class (looked up among imported modules only) and
    init_args, an nn.Sequential from its layers' records; None where the record says the
    module could not be recorded."""
    if record.get("rebuilds") is False:
        return None
    if isinstance(record.get("layers"), list):
        layers = [_rebuild(r if isinstance(r, dict) else {}, path) for r in record["layers"]]
        return None if any(m is None for m in layers) else nn.Sequential(*layers)
    name = record.get("class")
    if not isinstance(name, str):
        raise DataError(f"{path} holds a model built outside layerwise without its class; load "
                        "it with load_model(path, module=YourModule()).")
    owner, _, qualname = name.rpartition(".")
    top = owner
    while top and top not in sys.modules:  # the nearest imported module of the path
        top, _, rest = top.rpartition(".")
        qualname = f"{rest}.{qualname}"
    cls = sys.modules.get(top) if top else None
    for part in qualname.split(".") if cls is not None else ():
        cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        where = "it is defined in a function or a script" if "<locals>" in name or \
            owner == "__main__" else f"import {owner} first (layerwise imports nothing a " \
                                     "file names)"
        raise DataError(f"{path} holds a {name}, which cannot be found: {where}, or pass the "
                        f"module: load_model(path, module={name.rsplit('.', 1)[-1]}(...)).")
    try:
        return cls(**record.get("init_args", {}))
    except Exception as exc:  # a user's constructor may raise anything
        raise DataError(f"{path} holds a {name}, which cannot be built from its recorded "
                        f"arguments ({type(exc).__name__}: {exc}); pass the module: "
                        f"load_model(path, module={cls.__name__}(...)).") from None


def _plain_args(args: dict) -> dict:
    """init_args as a checkpoint can hold them: names to numbers, strings, None, bools or
    lists and tuples of those (stored as lists)."""
    def plain(v) -> bool:
        if isinstance(v, (list, tuple)):
            return all(plain(i) for i in v)
        return v is None or isinstance(v, (bool, int, float, str))

    bad = next((k for k, v in args.items() if not isinstance(k, str) or not plain(v)), None)
    if bad is not None:
        raise ConfigTypeError(f"init_args[{bad!r}] is a {type(args[bad]).__name__}; a "
                              "checkpoint records plain values only (numbers, strings, None, "
                              "lists of them).")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
