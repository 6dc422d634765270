"""`layerwise train MODEL ...` and `layerwise eval CHECKPOINT ...`."""

from __future__ import annotations

import argparse

from layerwise.cli.common import (
    add_alias,
    add_data_source,
    add_dataset,
    add_device,
    add_json,
    emit,
    run_config,
    show_progress,
    whole_numbers,
)
from layerwise.cli.flags import add_setting, add_settings, config_from, given
from layerwise.errors import ConfigError
from layerwise.nn.config import ModelConfig
from layerwise.run_config import RunConfig
from layerwise.train.config import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a supervised model",
                       description="Train a supervised model of the course on a dataset.")
    add_recipe(p)
    add_setting(p, RunConfig, "logdir", help="TensorBoard run directory (train/ and test/ inside)")
    p.add_argument("--checkpoint", metavar="PATH", help="write a checkpoint here at each eval")
    add_alias(p, "--save", "checkpoint", metavar="PATH")
    add_setting(p, RunConfig, "resume")
    p.add_argument("--init", metavar="PATH", help="start from these weights (transfer learning)")
    p.add_argument("--freeze", type=int, default=0, metavar="N",
                   help="freeze the first N layers (with --init: the course's Lab 9 transfer)")
    p.add_argument("--plots", metavar="DIR", dest="curves",
                   help="write the per-evaluation learning curves here (CSV and PNG)")
    add_alias(p, "--curves", "curves", metavar="DIR")
    add_json(p)
    p.set_defaults(func=cmd_train)

    c = sub.add_parser("curve", help="learning curve: error against training-set size",
                       description="Train a fresh model on the first m training examples for "
                       "each m in --sizes and plot train and validation error against m.")
    add_recipe(c)
    c.add_argument("--sizes", required=True, help="training-set sizes, e.g. 100,500,2000")
    c.add_argument("--plots", metavar="DIR", dest="out",
                   help="where the CSV and PNG go (required)")
    add_alias(c, "--out", "out", metavar="DIR")
    add_json(c)
    c.set_defaults(func=cmd_curve)

    e = sub.add_parser("eval", help="evaluate a checkpoint on a dataset's test set",
                       description="Evaluate a supervised checkpoint on a dataset's test set.")
    e.add_argument("checkpoint")
    add_dataset(e, "dataset name, NAME:options, an IDX directory or mnist.pkl.gz")
    add_data_source(e)
    add_device(e)
    add_json(e)
    e.set_defaults(func=cmd_eval)


def add_recipe(p: argparse.ArgumentParser) -> None:
    """Model, data and optimisation flags shared by `train` and `curve`: ModelConfig's and
    TrainConfig's fields (their defaults, help and choices are the fields')."""
    add_setting(p, ModelConfig, "name", positional=True)
    add_dataset(p, "dataset name or IDX directory")
    add_data_source(p)
    length = p.add_mutually_exclusive_group()
    add_settings(length, TrainConfig, "epochs", "steps")
    add_settings(p, TrainConfig, "batch_size", "optimizer", "lr", "momentum", "l2")
    add_settings(p, ModelConfig, "dropout", "hidden", "activation", "degree", "pool")
    add_settings(p, TrainConfig, "eval_every", "patience")
    add_setting(p, RunConfig, "val_size")
    add_settings(p, TrainConfig, "shift", "cuda_graphs", "precision")
    add_device(p)
    add_setting(p, TrainConfig, "seed")


def recipe_from(args) -> tuple[ModelConfig, TrainConfig]:
    """The ModelConfig and TrainConfig the flags describe."""
    train = config_from(args, TrainConfig)
    if train.optimizer == "gd" and "batch_size" in given(args, TrainConfig):
        raise ConfigError("--optimizer gd takes the whole training set every step, so "
                          "--batch-size has nothing to set; use --optimizer sgd for "
                          "mini-batches.")
    return config_from(args, ModelConfig), train


def resumed_recipe(args) -> tuple[ModelConfig, TrainConfig]:
    """With --resume: the checkpoint's model and recipe with the flags given changed (fit
    applies the changes a resumed run may make and refuses the others)."""
    from layerwise.resume import resume_recipe

    recipe = resume_recipe(args.resume, model=given(args, ModelConfig),
                           train=given(args, TrainConfig))
    if recipe.kind != "supervised":
        raise ConfigError(f"--resume {args.resume} holds an RBM run; continue it with "
                          "`layerwise rbm train --resume`.")
    return recipe.model, recipe.train


def result_line(figures: dict) -> str:
    """`MODEL on DATASET (DEVICE): test accuracy A, test loss L` (MSE for regression)."""
    metric = "test_accuracy" if "test_accuracy" in figures else "test_mse"
    ranks = f", {figures['ranks']} ranks" if figures.get("ranks", 1) > 1 else ""
    return (f"{figures['model']} on {figures['dataset']} ({figures['device']}{ranks}): "
            f"{metric.replace('_', ' ')} {figures[metric]:.4f}, "
            f"test loss {figures['test_loss']:.4f}")


def cmd_train(args) -> int:
    from layerwise.distributed import env_rank
    from layerwise.train.run import fit

    run = run_config(args)
    model, cfg = resumed_recipe(args) if run.resume else recipe_from(args)
    result = fit(model, args.dataset, cfg, run, checkpoint=args.checkpoint, init=args.init,
                 freeze=args.freeze, curves=args.curves, progress=show_progress(args))
    if env_rank() != 0:  # under torchrun rank 0 reports for all
        return 0
    figures = result.to_dict()
    emit([f"{result_line(figures)}, {figures['steps']} steps in "
          f"{figures['train_seconds']:.2f} s"], figures, args)
    return 0


def cmd_eval(args) -> int:
    from layerwise.train.evaluation import evaluate_checkpoint

    figures = evaluate_checkpoint(args.checkpoint, args.dataset, run_config(args)).to_dict()
    emit([result_line(figures)] + ([f"note: {figures['note']}"] if "note" in figures else []),
         figures, args)
    return 0


def cmd_curve(args) -> int:
    sizes = sorted(set(whole_numbers(args.sizes, "--sizes")))
    if not sizes:
        raise ConfigError("--sizes needs at least one training-set size.")
    if not args.out:
        raise ConfigError("curve needs --plots DIR: where its CSV and PNG go.")
    from layerwise.train.evaluation import learning_curve

    model, cfg = recipe_from(args)
    figures = learning_curve(model, args.dataset, cfg, sizes, args.out,
                             run_config(args), progress=show_progress(args)).to_dict()
    lines = [f"{'size':>8} {'train error':>12} {'val error':>10}"]
    lines += [f"{r['train_size']:>8} {r['train_error']:>12.4f} {r['val_error']:>10.4f}"
              for r in figures["curve"]]
    lines.append(f"wrote {figures['csv']} and {figures['png']}")
    emit(lines, figures, args)
    return 0
