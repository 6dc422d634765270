"""`layerwise lab N`: the course's labs 1-9."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, emit, show_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="run one of the course's labs 1-9",
                       description="Run one of the course's labs: 1-3 tensors, 4 gradient "
                       "descent to W=-1, b=1, 5 train/eval loss, 6 softmax, 7 deepnn, "
                       "8 device placement, 9 save/restore and transfer.")
    p.add_argument("number", type=int, choices=range(1, 10), metavar="N", help="lab 1-9")
    p.add_argument("--dataset", help="dataset for labs 6, 7 and 9 (default mnist-10k)")
    p.add_argument("--steps", type=int, help="override the lab's step count")
    p.add_argument("--device", default="auto")
    p.add_argument("--logdir", help="TensorBoard run directory (labs 5-7)")
    p.add_argument("--seed", type=int, default=0)
    add_json(p)
    p.set_defaults(func=cmd_lab)


def cmd_lab(args) -> int:
    from layerwise.labs import LABS, LabOptions

    opts = LabOptions(dataset=args.dataset, steps=args.steps, device=args.device,
                      logdir=args.logdir, seed=args.seed, progress=show_progress(args))
    lines, figures = LABS[args.number](opts)
    emit([f"Lab {args.number}"] + lines, {"lab": args.number, **figures}, args.json)
    return 0
