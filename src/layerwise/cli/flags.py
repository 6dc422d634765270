"""Flags built from config fields, and configs built from the flags given.

Each flag's name, help, choices and metavar come from its field's `setting` metadata
(layerwise.settings), and its default from the field: the parser's own default is SUPPRESS,
so a flag not given is absent from the namespace and the config built from it keeps the
field's default. `--help` shows that default (`HelpFormatter` reads `config_default`); a
resumed run overlays exactly the fields whose flags were given (`given`); an error naming a
field ("TrainConfig.lr must be ...") is said with the flag (`say_flags`, called once, by
cli/main.py).

Each command's namespace holds the set of fields its flags set (`SETTINGS`, a parser default
put by `record_settings`), so a flag of another kind with a field's name (train's --init,
weights to start from, beside ModelConfig.init) never lands in a config.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing

from layerwise.errors import ConfigError
from layerwise.settings import default_of, fields_of, flag_of, hints

FIELD = "config_field"  # the attribute of an argparse action built from a field: "TrainConfig.lr"
SETTINGS = "_settings"  # the namespace entry of the fields a command's flags set


def add_setting(parser, cls, name: str, *, help: str | None = None, positional: bool = False,
                **overrides) -> argparse.Action:
    """Add the flag of field `name` of config `cls` to `parser` (or an argument group);
    `help` replaces the field's help where a command says it differently."""
    meta, kind = fields_of(cls)[name].metadata, _kind(hints(cls)[name])
    options = {"help": help or meta["help"]}
    for key in ("choices", "metavar"):
        if meta.get(key):
            options[key] = meta[key]
    if kind is bool:
        options["action"] = "store_true"
    elif kind in (int, float):
        options["type"] = kind
    options.update(overrides)
    if positional:  # shown under its metavar ("model"), stored under the field's name
        shown = options.pop("metavar", name)
        action = parser.add_argument(shown, action=_store_as(name), default=argparse.SUPPRESS,
                                     **options)
    else:
        action = parser.add_argument(flag_of(cls, name), dest=name, default=argparse.SUPPRESS,
                                     **options)
    setattr(action, FIELD, f"{cls.__name__}.{name}")
    action.config_default = default_of(cls, name)
    return action


def _store_as(name: str) -> type:
    """A store action that sets `name` in the namespace, whatever the argument is called."""
    class StoreAs(argparse._StoreAction):
        def __call__(self, parser, namespace, values, option_string=None):
            setattr(namespace, name, values)

    return StoreAs


def add_settings(parser, cls, *names: str) -> None:
    """`add_setting` for each of `names`."""
    for name in names:
        add_setting(parser, cls, name)


def _kind(hint):
    """The type a flag parses: the annotation without None (tuple for tuple[...])."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and typing.get_origin(hint) is not tuple:
        return _kind(args[0])
    return typing.get_origin(hint) or hint


def record_settings(parser: argparse.ArgumentParser) -> None:
    """Make `parser`'s namespaces carry the set of fields its flags set (see `given`)."""
    fields = {getattr(a, FIELD) for a in parser._actions if getattr(a, FIELD, None)}
    if fields:
        parser.set_defaults(**{SETTINGS: frozenset(fields)})


def given(args, cls) -> dict:
    """{field: value} of `cls`'s fields whose flags were given on the command line, a
    comma-separated tuple flag (--hidden 256,128) read as whole numbers."""
    values, ours = {}, getattr(args, SETTINGS, None)
    for name, hint in hints(cls).items():
        if name not in vars(args) or ours is not None and f"{cls.__name__}.{name}" not in ours:
            continue
        value = getattr(args, name)
        if isinstance(value, str) and _kind(hint) is tuple:
            value = tuple(whole_numbers(value, flag_of(cls, name)))
        values[name] = value
    return values


def config_from(args, cls, **fields):
    """`cls` built from the flags given (the fields' defaults otherwise) and `fields`."""
    return cls(**{**given(args, cls), **fields})


def whole_numbers(text: str, flag: str) -> list[int]:
    """The comma-separated whole numbers of a flag's value (empty items ignored), or a
    ConfigError naming the flag."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a list of whole numbers.") from None


def flags_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{"TrainConfig.lr": "--lr", ...}: the flag each config field has in `parser`'s commands."""
    flags = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                flags.update(flags_of(child))
        elif getattr(action, FIELD, None) and action.option_strings:
            flags.setdefault(getattr(action, FIELD), action.option_strings[0])
    return flags


_FIELD_NAME = re.compile(r"\b[A-Z]\w*\.\w+\b")


def say_flags(message: str, flags: dict[str, str]) -> str:
    """`message` with each config field that has a flag named by its flag instead."""
    return _FIELD_NAME.sub(lambda m: flags.get(m.group(0), m.group(0)), message)


def shown_default(action: argparse.Action):
    """The default `--help` states for `action`: its config field's, else argparse's."""
    default = getattr(action, "config_default", action.default)
    if isinstance(default, tuple):
        return ",".join(str(v) for v in default)
    return None if default is dataclasses.MISSING else default
