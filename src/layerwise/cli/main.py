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
from layerwise.cli.commands import NAMES
from layerwise.cli.common import HelpFormatter
from layerwise.cli.flags import flags_of, record_settings, say_flags
from layerwise.errors import LayerwiseError, Terminated
from layerwise.progress import send_to_stderr

COMMANDS = (quickstart, train_cmd, lab_cmd, rbm_cmd, dbn_cmd, launch_cmd, bench_cmd, data_cmd,
            reproduce_cmd)


COMMANDS_BY_NAME = NAMES


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
    """Every (sub)command's help shows each flag's default (a config field's default for a
    flag built from one: cli/flags.py)."""
    parser.formatter_class = HelpFormatter
    record_settings(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _with_defaults(child)


def main(argv: list[str] | None = None) -> int:
    from layerwise.record import started

    start = started()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_parser = parser  # launch checks the command it starts with it
    args.argv, args.started = argv, start  # for --record FILE
    # Under --json standard output ends with the result's JSON line; progress goes to stderr.
    send_to_stderr(getattr(args, "json", False))
    # SIGINT, SIGTERM and SIGHUP unwind like exceptions: partial files removed, one line,
    # the shell's status for the signal (130, 143, 129).
    previous = signals.install()
    try:
        if getattr(args, "record", None):
            from layerwise.runtime import check_output_file

            check_output_file(args.record, "--record", "run.json")
        return args.func(args)
    except LayerwiseError as exc:
        # The one place field names become flags: "TrainConfig.lr" is said "--lr" here.
        print(f"layerwise: error: {say_flags(str(exc), flags_of(parser))}", file=sys.stderr)
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
