"""`layerwise lab N`: the course's labs 1-9."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, emit, run_config, show_progress
from layerwise.cli.flags import add_setting, add_settings, config_from
from layerwise.lab_options import LabOptions
from layerwise.run_config import RunConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="run one of the course's labs 1-9",
                       description="Run one of the course's labs: 1-3 tensors, 4 gradient "
                       "descent to W=-1, b=1, 5 train/eval loss, 6 softmax, 7 deepnn, "
                       "8 device placement, 9 save/restore and transfer.")
    p.add_argument("number", type=int, choices=range(1, 10), metavar="N", help="lab 1-9")
    add_settings(p, LabOptions, "dataset", "steps")
    add_setting(p, RunConfig, "device")  # passed on as LabOptions.device: one --device
    add_settings(p, LabOptions, "logdir", "seeds", "seed")
    add_json(p)
    p.set_defaults(func=cmd_lab)


def cmd_lab(args) -> int:
    from layerwise.labs import LABS, RECIPES, beside_the_course

    opts = config_from(args, LabOptions, device=run_config(args).device,
                       progress=show_progress(args))
    print(f"Lab {args.number}: {RECIPES[args.number]}"
          + (f" (--steps {opts.steps})" if opts.steps else ""), flush=True)
    lines, figures = LABS[args.number](opts)
    course = beside_the_course(args.number, figures)
    if course:
        lines.append(f"{'beside the course':<18} {'course':>14} {'here':>14} {'difference':>11}")
        lines += [f"{r['figure']:<18} {_value(r['course']):>14} {_value(r['here']):>14} "
                  f"{r['difference']:>+11.3g}" for r in course]
        if args.number in (6, 7) and figures.get("dataset") != "mnist":
            lines.append(f"(the course's figure is on full MNIST; this ran on "
                         f"{figures.get('dataset')}: --dataset mnist, see `data import`)")
    emit(lines, {"lab": args.number, **figures, "course": course}, args.json)
    return 0


def _value(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f"{x:.3g}" for x in v) + "]"
    return f"{v:.8g}"
