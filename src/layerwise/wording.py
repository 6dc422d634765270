"""Words in messages for people: a name matched the way a person types it, with the nearest
known name when it matches none, and a count with its noun in the right number.

Torch-free and stdlib-only, so the parser and the catalog can use it before torch is imported.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Iterable

from layerwise.errors import ConfigError


def resolve_name(given: str, known: Iterable[str], what: str, also: str = "") -> str:
    """The canonical spelling of `given` among `known`: itself, else the one name equal to it
    ignoring case ("deepNN" -> "deepnn"); otherwise a ConfigError naming `what` ("dataset",
    "model"), the nearest known name where one is close, and the names there are (followed by
    `also`, e.g. "or a directory of IDX files")."""
    known = tuple(known)
    if given in known:
        return given
    folded = [name for name in known if name.casefold() == given.casefold()]
    if len(folded) == 1:
        return folded[0]
    if folded:
        raise ConfigError(f"{what} {given!r} matches {' and '.join(folded)} except for case; "
                          "give one of them exactly.")
    hint = nearest(given, known)
    guess = f"did you mean {hint}? " if hint else ""
    raise ConfigError(f"unknown {what} {given!r}; {guess}known: {', '.join(known)}"
                      f"{', ' + also if also else ''}.")


def name_type(known: Iterable[str], what: str) -> Callable[[str], str]:
    """An argparse `type=` for a flag with choices: `resolve_name`, so "deepNN" reaches the
    choices check as "deepnn" and "dpnn" fails there already, as argparse's error (exit 2)
    with the suggestion (a ValueError from `type` would be said "invalid value" without it)."""
    known = tuple(known)

    def parse(given: str) -> str:
        try:
            return resolve_name(given, known, what)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = what
    return parse


def nearest(given: str, known: Iterable[str]) -> str | None:
    """The known name closest to `given` (ignoring case), or None when none is close."""
    by_folded = {name.casefold(): name for name in known}
    close = difflib.get_close_matches(given.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`n` and its noun: "1 epoch", "2 epochs", "1,000 steps" (`nouns` where not noun + "s")."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"
