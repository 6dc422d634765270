"""`layerwise lab N`: the course's labs 1-9."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, emit, run_config, show_progress
from layerwise.cli.flags import add_setting, add_settings, config_from
from layerwise.errors import ConfigError
from layerwise.lab_options import PLOTTED, LabOptions
from layerwise.run_config import RunConfig

EXAMPLES = """examples:
  layerwise lab 4 --plots figures              # the course's table and its plot
  layerwise lab 7 --steps 2000                 # a tenth of the course's 20,000 steps
  layerwise lab 6 --dataset mnist --seeds 10   # on full MNIST, the mean of 10 seeds"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="run one of the course's labs 1-9",
                       description="Run one of the course's labs: 1-3 tensors, 4 gradient "
                       "descent to W=-1, b=1, 5 train/eval loss, 6 softmax, 7 deepnn, "
                       "8 device placement, 9 save/restore and transfer. Each says what the "
                       "course did and what runs here, and sets its results beside the "
                       "figures the course printed.", epilog=EXAMPLES)
    p.add_argument("number", type=int, choices=range(1, 10), metavar="N", help="lab 1-9")
    add_settings(p, LabOptions, "dataset", "steps")
    add_setting(p, RunConfig, "device")  # passed on as LabOptions.device: one --device
    add_settings(p, LabOptions, "logdir", "seeds", "seed", "plots")
    add_json(p)
    p.set_defaults(func=cmd_lab)


def cmd_lab(args) -> int:
    from layerwise.labs import LABS, RECIPES, about, beside_the_course, table_lines

    opts = config_from(args, LabOptions, device=run_config(args).device,
                       progress=show_progress(args))
    if opts.plots and args.number not in PLOTTED:
        raise ConfigError(f"lab {args.number} draws no figures (labs "
                          f"{', '.join(map(str, PLOTTED))} do); leave out --plots.")
    header = [f"Lab {args.number}: {RECIPES[args.number]}"
              + (f" (--steps {opts.steps})" if opts.steps else ""), *about(args.number, opts)]
    print("\n".join(header), flush=True)
    lines, figures = LABS[args.number](opts)
    course = beside_the_course(args.number, figures)
    lines += table_lines(args.number, course, figures.get("dataset"))
    lines += [f"wrote {path}" for path in figures.get("wrote", [])]
    emit(lines, {"lab": args.number, **figures, "course": course}, args)
    return 0
