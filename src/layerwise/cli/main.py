"""Entry point: builds the argument parser from each subcommand module and runs one command."""

from __future__ import annotations

import argparse
import signal
import sys

from layerwise import __version__
from layerwise.cli import (
    bench_cmd,
    data_cmd,
    dbn_cmd,
    lab_cmd,
    launch_cmd,
    quickstart,
    rbm_cmd,
    train_cmd,
)
from layerwise.cli.common import HelpFormatter
from layerwise.errors import LayerwiseError, Terminated
from layerwise.progress import send_to_stderr

COMMANDS = (quickstart, train_cmd, lab_cmd, rbm_cmd, dbn_cmd, launch_cmd, bench_cmd, data_cmd)


COMMANDS_BY_NAME = ("quickstart", "train", "curve", "eval", "lab", "rbm", "dbn", "launch",
                    "bench", "data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerwise",
        description="Train neural networks and Restricted Boltzmann Machines, "
                    "on one machine or many.")
    parser.add_argument("--version", action="version", version=f"layerwise {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    _with_defaults(parser)
    return parser


def _with_defaults(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command's help shows each flag's default."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _with_defaults(child)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Under --json standard output ends with the result's JSON line; progress goes to stderr.
    send_to_stderr(getattr(args, "json", False))
    previous = _on_sigterm()
    try:
        return args.func(args)
    except LayerwiseError as exc:
        print(f"layerwise: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("layerwise: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("layerwise: terminated (SIGTERM); files being written were removed, the last "
              "checkpoint written is intact", file=sys.stderr)
        return 143
    finally:
        send_to_stderr(False)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _on_sigterm():
    """SIGTERM unwinds like Ctrl-C (partial files removed, one line, exit 143); returns the
    handler it replaced, or None where handlers cannot be set (not the main thread)."""
    def terminate(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, terminate)
    except ValueError:
        return None
