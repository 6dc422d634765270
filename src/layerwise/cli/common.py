"""Pieces shared by the subcommands: common flags and result output."""

from __future__ import annotations

import argparse
import json
import math

from layerwise.errors import ConfigError
from layerwise.names import DEFAULT_TIMEOUT


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="end the output with one line holding a JSON object of the figures "
                             "(progress then goes to standard error)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress output, only the results")


def add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds every random number the command draws")


def add_alias(parser, old: str, dest: str, **kwargs) -> None:
    """An old flag name kept working for a release, hidden from --help."""
    parser.add_argument(old, dest=dest, help=argparse.SUPPRESS, **kwargs)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help ends with its default, unless the help already states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def show_progress(args) -> bool:
    """Whether the command reports progress as it works (not under --quiet)."""
    return not getattr(args, "quiet", False)


def add_data_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR",
                        help="look here first for dataset files (and download here)")
    parser.add_argument("--offline", action="store_true",
                        help="never download; fail with a message if the files are not found")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    p.add_argument("--gpu-memory-fraction", type=float, metavar="F",
                   help="cap this process's share of the GPU's memory (0 < F <= 1)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="under torchrun: how long a rank waits for the others before it stops "
                        f"with an error (default {DEFAULT_TIMEOUT:g})")


GIVEN = "_given_flags"


def whole_numbers(text: str, flag: str) -> list[int]:
    """The comma-separated whole numbers of a flag's value (empty items ignored), or a
    ConfigError naming the flag."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a list of whole numbers.") from None


def given(args) -> set[str]:
    """The destinations of the flags given on the command line (not left at their default)."""
    return set(getattr(args, GIVEN, None) or ())


def given_fields(args, config, flags: dict[str, str]) -> dict:
    """{field: value in `config`} for each flag given on the command line, `flags` mapping
    each flag's destination to the config field it sets."""
    chosen = given(args)
    return {field: getattr(config, field) for dest, field in flags.items() if dest in chosen}


def run_config(args, **fields):
    """The RunConfig of the data and device flags (and of `fields`, e.g. logdir and resume)."""
    from layerwise.runtime import RunConfig

    return RunConfig(data_dir=args.data_dir, offline=args.offline, device=args.device,
                     threads=args.threads, gpu_memory_fraction=args.gpu_memory_fraction,
                     timeout=args.timeout, **fields)


def _clean(value):
    """JSON has no NaN/inf: write them as null rather than emitting invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit(lines: list[str], figures: dict, as_json: bool) -> None:
    """Print the human-readable lines, then (with --json) one JSON line of `figures`."""
    for line in lines:
        print(line)
    if as_json:
        print(json.dumps(_clean(figures), sort_keys=False), flush=True)
