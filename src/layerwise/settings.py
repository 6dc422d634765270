"""Settings: config dataclass fields that say once their default, help, flag and choices.

A config field is declared with `setting` instead of a bare default:

    lr: float = setting(1e-3, help="learning rate")
    n_hidden: int = setting(500, flag="--hidden", help="hidden units")

The command line builds each flag from the field (cli/flags.py), so a default, a help text or
a set of choices is written in one place. `check_types` (called first in every config's
`__post_init__`) checks each value against the field's annotation, and `invalid` builds the
ConfigError that names the field ("TrainConfig.lr must be ..."); the CLI says the flag instead.

This module imports no PyTorch: the parser imports the configs before it needs torch.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from typing import Any

from layerwise.errors import ConfigError, ConfigTypeError

_MISSING = dataclasses.MISSING


def setting(default: Any = _MISSING, *, help: str, flag: str | None = None,
            choices: tuple | None = None, metavar: str | None = None,
            label: str | None = None, default_factory: Any = _MISSING) -> Any:
    """A dataclass field carrying its command-line form: `flag` ("--" + the name with dashes
    unless given), `help`, `choices`, `metavar`; `label` is how a message names a field that
    has no flag (e.g. "the number of visible units")."""
    metadata = {"help": help, "flag": flag, "choices": choices, "metavar": metavar,
                "label": label}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def fields_of(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def flag_of(cls, name: str) -> str:
    """How a user names field `name` of config `cls`: its flag, else its label."""
    meta = fields_of(cls)[name].metadata
    return meta.get("flag") or meta.get("label") or "--" + name.replace("_", "-")


def default_of(cls, name: str) -> Any:
    """The default of field `name` of `cls` (MISSING for a required field)."""
    f = fields_of(cls)[name]
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return f.default


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls) -> dict[str, Any]:
    """The evaluated annotations of `cls`'s fields (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def invalid(config, name: str, text: str) -> ConfigError:
    """ConfigError "Config.name text" naming the field, e.g. invalid(self, "lr", "must be
    positive")."""
    where = f"{type(config).__name__}.{name}"
    return ConfigError(f"{where} {text}", field=where)


def check_types(config) -> None:
    """Raise ConfigTypeError naming the first field whose value does not match its annotation:
    whole numbers for ints (bool is not one), ints or floats for floats, tuples or lists of
    the element type for tuples, a config's own class for a config."""
    for name, hint in hints(type(config)).items():
        value = getattr(config, name)
        if not conforms(value, hint):
            where = f"{type(config).__name__}.{name}"
            raise ConfigTypeError(f"{where} must be {describe(hint)}, got {value!r} "
                                  f"({type(value).__name__}).", field=where)


def conforms(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a)
                                               for v, a in zip(value, args, strict=True))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation this check does not know


def describe(hint: Any) -> str:
    """A type annotation in words: "a whole number", "a number or None"..."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(h) for h in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple of {_plural(describe(args[0]))}"
        return f"a tuple of {len(args)} {_plural(describe(args[0]))}"
    words = {type(None): "None", bool: "True or False", int: "a whole number",
             float: "a number", str: "a string"}
    if hint in words:
        return words[hint]
    return f"a {getattr(hint, '__name__', hint)}"


def _plural(text: str) -> str:
    return {"a whole number": "whole numbers", "a number": "numbers",
            "a string": "strings"}.get(text, text)


def check_argument(value: Any, name: str, expected: type | tuple[type, ...],
                   what: str | None = None) -> None:
    """Raise ConfigTypeError naming argument `name` of a public call when `value` is not an
    instance of `expected` (None is accepted only where `expected` includes NoneType): a dict
    given where a config belongs gets the spelling that builds one."""
    if isinstance(value, expected):
        return
    kinds = expected if isinstance(expected, tuple) else (expected,)
    what = what or " or ".join("None" if k is type(None) else f"a {k.__name__}" for k in kinds)
    config = next((k for k in kinds if dataclasses.is_dataclass(k)), None)
    hint = f"; build one from a dict with {config.__name__}(**d)" if isinstance(
        value, dict) and config is not None else ""
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ConfigTypeError(f"{name} must be {what}, got {shown} ({type(value).__name__}){hint}.",
                          field=name)
