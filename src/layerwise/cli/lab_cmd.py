"""`layerwise lab N`: the course's labs 1-9."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, add_seed, emit, show_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="run one of the course's labs 1-9",
                       description="Run one of the course's labs: 1-3 tensors, 4 gradient "
                       "descent to W=-1, b=1, 5 train/eval loss, 6 softmax, 7 deepnn, "
                       "8 device placement, 9 save/restore and transfer.")
    p.add_argument("number", type=int, choices=range(1, 10), metavar="N", help="lab 1-9")
    p.add_argument("--dataset", help="dataset for labs 6, 7 and 9 (default mnist-10k)")
    p.add_argument("--steps", type=int, help="override the lab's step count")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--logdir", help="TensorBoard run directory (labs 5-7)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="labs 6 and 7: run the recipe from N consecutive seeds, starting at "
                        "--seed, and report the mean and standard deviation (default 1)")
    add_seed(p)
    add_json(p)
    p.set_defaults(func=cmd_lab)


def cmd_lab(args) -> int:
    from layerwise.labs import LABS, RECIPES, LabOptions, beside_the_course

    opts = LabOptions(dataset=args.dataset, steps=args.steps, device=args.device,
                      logdir=args.logdir, seed=args.seed, progress=show_progress(args),
                      seeds=args.seeds)
    print(f"Lab {args.number}: {RECIPES[args.number]}"
          + (f" (--steps {args.steps})" if args.steps else ""), flush=True)
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
