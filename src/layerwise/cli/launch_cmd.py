"""`layerwise launch`: torchrun for layerwise commands, on a free port unless told otherwise."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from layerwise.cli.commands import NAMES
from layerwise.errors import ConfigError
from layerwise.memory import check_fits
from layerwise.names import MAX_TIMEOUT, MIN_TIMEOUT

RANK_BYTES = 250 << 20  # a rank's Python, torch and layerwise (measured: about 220 MB)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "launch", help="run a layerwise command on several processes (torchrun)",
        description="Start --nproc-per-node copies of a layerwise command as one "
        "torch.distributed job. On one machine the rendezvous takes a free port (torchrun "
        "--standalone), so two jobs never collide; across machines give every node the same "
        "--nnodes, --rdzv-endpoint HOST:PORT and --rdzv-id.",
        epilog="example: layerwise launch --nproc-per-node 2 -- rbm train --parallel model "
               "--dataset random-binary --hidden 20000")
    p.add_argument("--nproc-per-node", type=int, required=True, metavar="K",
                   help="processes on this machine (one per GPU on a GPU machine)")
    p.add_argument("--nnodes", type=int, default=1, help="machines in the job (default 1)")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="rendezvous address, the same on every machine (multi-node)")
    p.add_argument("--rdzv-id", default="layerwise", help="job id shared by the machines")
    p.add_argument("--join-timeout", type=float, default=300, metavar="SECONDS",
                   help="multi-node: how long the machines wait for each other to join")
    p.add_argument("--connect-timeout", type=float, default=60, metavar="SECONDS",
                   help="multi-node: how long a store operation (first of all, reaching the "
                        "rendezvous endpoint) may take before the job gives up")
    p.add_argument("--log-dir", metavar="DIR",
                   help="keep torchrun's log (launch.log) and each rank's output here "
                        "(default: a temporary directory, kept only when the job fails)")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="the layerwise command and its flags, after --")
    p.set_defaults(func=cmd_launch)


def torchrun_argv(args) -> list[str]:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ConfigError("give the layerwise command to run after --, e.g. "
                          "`layerwise launch --nproc-per-node 2 -- train mlp`.")
    if command[0] not in NAMES or command[0] == "launch":
        raise ConfigError(f"{command[0]!r} is not a layerwise command launch can run; give one "
                          f"of {', '.join(n for n in NAMES if n != 'launch')}.")
    if args.nproc_per_node < 1 or args.nnodes < 1:
        raise ConfigError("--nproc-per-node and --nnodes must be at least 1.")
    check_fits(args.nproc_per_node * RANK_BYTES, f"--nproc-per-node {args.nproc_per_node:,} "
               f"(ranks of about {RANK_BYTES >> 20} MB each, before their data)")
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
            str(args.nproc_per_node)]
    if args.nnodes == 1 and not args.rdzv_endpoint:
        argv.append("--standalone")  # a local rendezvous on a free port
    else:
        if not args.rdzv_endpoint:
            raise ConfigError("a job on several machines needs --rdzv-endpoint HOST:PORT, "
                              "an address of the first machine that all of them can reach.")
        if not (MIN_TIMEOUT <= args.join_timeout <= MAX_TIMEOUT and
                MIN_TIMEOUT <= args.connect_timeout <= MAX_TIMEOUT):
            raise ConfigError(f"--join-timeout and --connect-timeout must be from "
                              f"{MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} seconds, got "
                              f"{args.join_timeout:g} and {args.connect_timeout:g}.")
        check_endpoint(args.rdzv_endpoint)
        argv += ["--nnodes", str(args.nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                 args.rdzv_endpoint, "--rdzv-id", args.rdzv_id, "--rdzv-conf",
                 f"join_timeout={args.join_timeout:g},read_timeout={args.connect_timeout:g}"]
    return [*argv, "-m", "layerwise", *command]


def check_endpoint(endpoint: str) -> None:
    """HOST:PORT with a port, and a host name that resolves here."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--rdzv-endpoint {endpoint!r} is not HOST:PORT, e.g. node1:29400.")
    try:
        socket.getaddrinfo(host.strip("[]"), int(port))
    except OSError:
        raise ConfigError(f"the rendezvous host {host!r} does not resolve on "
                          f"{socket.gethostname()}; use an address or a name in its hosts "
                          "file or DNS.") from None


def launch_env(nproc: int) -> dict[str, str]:
    """The environment of the job: OMP_NUM_THREADS shares this machine's cores among the
    processes unless already set (torchrun would set 1 and print a banner about it)."""
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // nproc))
    return env


def cmd_launch(args) -> int:
    import shutil

    from layerwise.distributed import launcher

    argv = torchrun_argv(args)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    # A bad flag of the command is argparse's usage and exit 2 here, once, instead of on
    # every rank after torchrun has started them.
    # The whole CLI's parser comes from main (importing cli.main here would be a circle).
    parser = getattr(args, "command_parser", None)
    if parser is not None:
        parser.parse_args(command)
    if args.rdzv_endpoint:  # before torchrun, which would wait on a silent endpoint forever
        why = launcher.probe_rendezvous(args.rdzv_endpoint, args.connect_timeout)
        if why:
            raise ConfigError(f"--rdzv-endpoint {why}.")
    env = launch_env(args.nproc_per_node)
    where = "on this machine only" if args.nnodes == 1 and not args.rdzv_endpoint else \
        f"of {args.nnodes * args.nproc_per_node} on {args.nnodes} machines meeting at " \
        f"{args.rdzv_endpoint}"
    print(f"launch: {args.nproc_per_node} rank(s) on {socket.gethostname()} {where}, "
          f"{env['OMP_NUM_THREADS']} thread(s) each: layerwise {' '.join(command)}",
          file=sys.stderr, flush=True)
    result = launcher.run(argv, env, args.log_dir)
    if result.returncode == 0:
        if not args.log_dir:
            shutil.rmtree(result.log_dir, ignore_errors=True)
        return 0
    if args.rdzv_endpoint and result.agent_error.startswith("the rendezvous endpoint"):
        result.agent_error = (f"the rendezvous endpoint {args.rdzv_endpoint} did not answer "
                              f"(--connect-timeout {args.connect_timeout:g} s); start the "
                              "first machine's launch, or check the address and that the port "
                              "is open")
    for line in launcher.summary(result):
        print(line, file=sys.stderr, flush=True)
    return 1
