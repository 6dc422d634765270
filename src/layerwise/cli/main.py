"""Entry point: builds the argument parser from each subcommand module and runs one command."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from layerwise import __version__, signals
from layerwise.cli import (
    bench_cmd,
    data_cmd,
    dbn_cmd,
    lab_cmd,
    launch_cmd,
    quickstart,
    rbm_cmd,
    reproduce_cmd,
    train_cmd,
)
from layerwise.cli.common import GIVEN, HelpFormatter
from layerwise.errors import LayerwiseError, Terminated
from layerwise.progress import send_to_stderr

COMMANDS = (quickstart, train_cmd, lab_cmd, rbm_cmd, dbn_cmd, launch_cmd, bench_cmd, data_cmd,
            reproduce_cmd)


COMMANDS_BY_NAME = ("quickstart", "train", "curve", "eval", "lab", "rbm", "dbn", "launch",
                    "bench", "data", "reproduce")


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
    """Every (sub)command's help shows each flag's default, and each flag given on the command
    line is recorded (`common.given`), so that a resumed run can tell a flag asked for from a
    default."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _with_defaults(child)
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            action.__class__ = _recording(type(action))


_RECORDING: dict[type, type] = {}


def _recording(cls: type) -> type:
    """`cls` whose call also adds its destination to the namespace's set of given flags."""
    if cls in _RECORDING or cls in _RECORDING.values():
        return _RECORDING.get(cls, cls)

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, GIVEN, None)
        if given is None:
            given = set()
            setattr(namespace, GIVEN, given)
        given.add(self.dest)
        cls.__call__(self, parser, namespace, values, option_string)

    _RECORDING[cls] = type(cls.__name__, (cls,), {"__call__": __call__})
    return _RECORDING[cls]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Under --json standard output ends with the result's JSON line; progress goes to stderr.
    send_to_stderr(getattr(args, "json", False))
    # SIGINT, SIGTERM and SIGHUP unwind like exceptions: partial files removed, one line,
    # the shell's status for the signal (130, 143, 129).
    previous = signals.install()
    try:
        return args.func(args)
    except LayerwiseError as exc:
        print(f"layerwise: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `layerwise ... | head`: the reader left before the output ended
        # Python would flush stdout again at exit and fail again: point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("layerwise: error: standard output was closed before the output ended (the "
              "reader went away); nothing else was affected.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("layerwise: interrupted", file=sys.stderr)
        return signals.exit_status(signal.SIGINT)
    except Terminated as exc:
        signum = exc.args[0] if exc.args else signal.SIGTERM
        print(f"layerwise: terminated ({signal.Signals(signum).name}); files being written "
              "were removed, the last checkpoint written is intact", file=sys.stderr)
        return signals.exit_status(signum)
    finally:
        send_to_stderr(False)
        signals.restore(previous)
