"""The CLI reference as Markdown, read from the argparse parsers themselves.

The documentation site's "Command line" page is this text (docs/hooks.py fills it at build time),
so it cannot drift from `layerwise --help`: every command and subcommand, each flag with its
metavar, choices, help and the default `--help` shows (a config field's, cli/flags.py).
tests/test_docs.py checks that every flag of every command appears in it.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from layerwise.cli.flags import shown_default


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("layerwise",)
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """(command path, its parser, its one-line help) for `parser` and every subcommand below."""
    yield path, parser, parser.description or ""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            seen = set()
            for name, child in action.choices.items():
                if id(child) in seen:          # an alias of a command already listed
                    continue
                seen.add(id(child))
                for sub in commands(child, (*path, name)):
                    yield sub if sub[0] != (*path, name) else (sub[0], sub[1],
                                                               helps.get(name) or sub[2])


def shown_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The optional arguments `--help` lists (hidden old names left out)."""
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not a.option_strings
            and not isinstance(a, argparse._SubParsersAction)]


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _flag_cell(action: argparse.Action) -> str:
    names = ", ".join(f"`{flag}`" for flag in action.option_strings)
    if action.nargs == 0:
        return names
    if action.choices:
        value = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        value = action.metavar or action.dest.upper()
    return f"{names} `{_cell(value)}`"


def _default_cell(action: argparse.Action) -> str:
    if action.nargs == 0 or isinstance(action, argparse._VersionAction):
        return ""
    default = shown_default(action)
    return "" if default in (None, argparse.SUPPRESS) else f"`{_cell(default)}`"


def _help_cell(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            text = text % {**vars(action), "default": shown_default(action), "prog": ""}
    return _cell(text)


def section(path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str) -> str:
    """One command's part of the reference: usage, arguments and a table of its flags."""
    lines = [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", ""]
    if summary:
        lines += [_cell(summary), ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    args = positionals(parser)
    if args:
        lines += ["| argument | help |", "| --- | --- |"]
        lines += [f"| `{a.metavar or a.dest}` | {_help_cell(a)} |" for a in args]
        lines.append("")
    flags = shown_flags(parser)
    if flags:
        lines += ["| flag | default | help |", "| --- | --- | --- |"]
        lines += [f"| {_flag_cell(a)} | {_default_cell(a)} | {_help_cell(a)} |" for a in flags]
        lines.append("")
    return "\n".join(lines)


def markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference: one section per command and subcommand, in the parsers' order."""
    if parser is None:
        from layerwise.cli.main import build_parser
        parser = build_parser()
    return "\n".join(section(*entry) for entry in commands(parser))
