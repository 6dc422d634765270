"""Pieces shared by the subcommands: common flags and result output."""

from __future__ import annotations

import argparse
import json
import math

from layerwise.cli.flags import (
    add_settings,
    config_from,
    shown_default,
    whole_numbers,  # noqa: F401 - the commands take it from here
)
from layerwise.run_config import RunConfig


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="end the output with one line holding a JSON object of the figures "
                             "(progress then goes to standard error)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress output, only the results")
    parser.add_argument("--record", metavar="FILE",
                        help="also write FILE (JSON): the command, its figures, how long it "
                             "took, the load on the machine, the hardware, versions and revision "
                             "(what docs/results/ holds)")


def add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds every random number the command draws")


def add_alias(parser, old: str, dest: str, **kwargs) -> None:
    """An old flag name kept working for a release, hidden from --help."""
    parser.add_argument(old, dest=dest, help=argparse.SUPPRESS, **kwargs)


class HelpFormatter(argparse.HelpFormatter):
    """Every flag's help ends with its default (its config field's, for a flag built from one:
    the parser's own is SUPPRESS), unless the help already states it or there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = shown_default(action)
        if "default" in text or default is None or default is False \
                or default is argparse.SUPPRESS or not action.option_strings:
            return text
        return f"{text} (default: {str(default).replace('%', '%%')})"

    def _fill_text(self, text, width, indent):
        """Paragraphs are filled; the lines of one whose lines after the first are indented
        (a list of examples) are kept as written."""
        fill = super()._fill_text
        return "\n\n".join("\n".join(indent + line for line in para.splitlines())
                           if "\n  " in para else fill(para, width, indent)
                           for para in text.split("\n\n"))


def show_progress(args) -> bool:
    """Whether the command reports progress as it works (not under --quiet)."""
    return not getattr(args, "quiet", False)


DATASET = "mnist-10k"  # what --dataset names when it is not given


def add_dataset(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--dataset", default=DATASET, help=help)


def add_data(parser: argparse.ArgumentParser) -> None:
    """--dataset, where its files are, and the device: what every RBM command reads with."""
    add_dataset(parser, "dataset name, NAME:options, or a directory of IDX files")
    add_data_source(parser)
    add_device(parser)


def add_data_source(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, RunConfig, "data_dir", "offline")


def add_device(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, RunConfig, "device", "threads", "gpu_memory_fraction", "timeout")


def run_config(args, **fields) -> RunConfig:
    """The RunConfig of the flags given (and of `fields`)."""
    return config_from(args, RunConfig, **fields)


def _clean(value):
    """JSON has no NaN/inf: write them as null rather than emitting invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit(lines: list[str], figures: dict, args) -> None:
    """Print the human-readable lines, then (with --json) one JSON line of `figures`; with
    --record FILE, write the run's record there too (layerwise.record)."""
    for line in lines:
        print(line)
    if getattr(args, "json", False):
        print(json.dumps(_clean(figures), sort_keys=False), flush=True)
    if getattr(args, "record", None):
        from layerwise.record import write_record

        write_record(args.record, args.argv, _clean(figures), args.started)
