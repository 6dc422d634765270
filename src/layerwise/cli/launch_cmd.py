"""`layerwise launch`: torchrun for layerwise commands, on a free port unless told otherwise."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

from layerwise.errors import ConfigError


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
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="the layerwise command and its flags, after --")
    p.set_defaults(func=cmd_launch)


def torchrun_argv(args) -> list[str]:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ConfigError("give the layerwise command to run after --, e.g. "
                          "`layerwise launch --nproc-per-node 2 -- train mlp`.")
    from layerwise.cli.main import COMMANDS_BY_NAME

    if command[0] not in COMMANDS_BY_NAME or command[0] == "launch":
        raise ConfigError(f"{command[0]!r} is not a layerwise command launch can run; give one "
                          f"of {', '.join(n for n in COMMANDS_BY_NAME if n != 'launch')}.")
    if args.nproc_per_node < 1 or args.nnodes < 1:
        raise ConfigError("--nproc-per-node and --nnodes must be at least 1.")
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
            str(args.nproc_per_node)]
    if args.nnodes == 1 and not args.rdzv_endpoint:
        argv.append("--standalone")  # a local rendezvous on a free port
    else:
        if not args.rdzv_endpoint:
            raise ConfigError("a job on several machines needs --rdzv-endpoint HOST:PORT, "
                              "an address of the first machine that all of them can reach.")
        argv += ["--nnodes", str(args.nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                 args.rdzv_endpoint, "--rdzv-id", args.rdzv_id]
    return [*argv, "-m", "layerwise", *command]


def launch_env(nproc: int) -> dict[str, str]:
    """The environment of the job: OMP_NUM_THREADS shares this machine's cores among the
    processes unless already set (torchrun would set 1 and print a banner about it)."""
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // nproc))
    return env


def cmd_launch(args) -> int:
    argv = torchrun_argv(args)
    env = launch_env(args.nproc_per_node)
    command = argv[argv.index("layerwise", 3) + 1:]
    where = "on this machine only" if args.nnodes == 1 and not args.rdzv_endpoint else \
        f"of {args.nnodes * args.nproc_per_node} on {args.nnodes} machines meeting at " \
        f"{args.rdzv_endpoint}"
    print(f"launch: {args.nproc_per_node} rank(s) on {socket.gethostname()} {where}, "
          f"{env['OMP_NUM_THREADS']} thread(s) each: layerwise {' '.join(command)}",
          file=sys.stderr, flush=True)
    return subprocess.run(argv, env=env).returncode
