"""`layerwise quickstart`: the main job, offline, on the embedded digits."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, add_seed, emit, run_config, show_progress
from layerwise.cli.flags import add_setting
from layerwise.errors import ConfigError
from layerwise.run_config import RunConfig

DATASET = "mnist-10k"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart", help="train on the embedded MNIST digits and report test accuracy",
        description="Train the course's softmax regression (Lab 6) and its CNN deepnn (Lab 7) "
                    "on mnist-10k, the 10,000 real MNIST digits shipped with layerwise, and "
                    "print test accuracy and time for each.")
    add_setting(p, RunConfig, "device")
    p.add_argument("--deepnn-steps", type=int, default=1000, metavar="N",
                   help="deepnn training steps of 50 (default 1000; 0 skips deepnn)")
    add_seed(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from layerwise.data.datasets import load_dataset
    from layerwise.device import describe, resolve_device
    from layerwise.nn.models import ModelConfig
    from layerwise.train.run import fit
    from layerwise.train.trainer import TrainConfig

    if args.deepnn_steps < 0:
        raise ConfigError("--deepnn-steps must be 0 or more.")
    run = run_config(args)
    device = resolve_device(run.device)
    data = load_dataset(DATASET, seed=args.seed, device=device)
    recipes = {
        # The course's Lab 6 recipe: its GradientDescentOptimizer on mini-batches, learning
        # rate 0.5, 1000 steps of 100.
        "softmax": (TrainConfig(optimizer="sgd", lr=0.5, batch_size=100, steps=1000,
                                seed=args.seed),
                    "Lab 6: SGD lr 0.5 (the course's GradientDescentOptimizer on mini-batches "
                    "of 100), 1,000 steps", "92 % on full MNIST"),
        # Lab 7's net with dropout 0.5; Adam at 1e-3 rather than the course's 1e-4, because
        # quickstart runs a tenth of the course's 20,000 steps or fewer.
        "deepnn": (TrainConfig(optimizer="adam", lr=1e-3, batch_size=50,
                               steps=args.deepnn_steps, seed=args.seed),
                   f"Lab 7's net: Adam 1e-3, {args.deepnn_steps:,} steps of 50 (the course: "
                   "1e-4, 20,000 steps)", "99.2 % on full MNIST after 20,000 steps"),
    }
    if not args.deepnn_steps:
        del recipes["deepnn"]
    lines = [f"dataset  {DATASET}: {len(data.train)} train / {len(data.val)} validation / "
             f"{len(data.test)} test (MNIST digits shipped with layerwise)",
             f"device   {describe(device)}"]
    models = {}
    for name, (cfg, recipe, course) in recipes.items():
        if show_progress(args):
            print(f"{name}: {recipe}", flush=True)
        result = fit(ModelConfig(name), data, cfg, run,
                     progress=show_progress(args))
        r = models[name] = {"test_accuracy": result.test_accuracy,
                            "test_loss": result.test_loss, "steps": result.steps,
                            "train_seconds": result.train_seconds, "recipe": recipe,
                            "course": course}
        lines.append(f"{name:8} test accuracy {r['test_accuracy']:.4f}  loss "
                     f"{r['test_loss']:.4f}  {r['steps']} steps in {r['train_seconds']:.2f} s"
                     f"  (the course: {course})")
    emit(lines, {"dataset": DATASET, "device": str(device), "models": models}, args)
    return 0
