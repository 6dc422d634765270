"""`layerwise train MODEL ...` and `layerwise eval CHECKPOINT ...`."""

from __future__ import annotations

import argparse

from layerwise.cli.common import (
    add_alias,
    add_data_source,
    add_device,
    add_json,
    add_seed,
    emit,
    given_fields,
    run_config,
    show_progress,
    whole_numbers,
)
from layerwise.errors import ConfigError
from layerwise.names import ACTIVATIONS, MODELS, OPTIMIZERS, POOLS, TRAIN_PRECISIONS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a supervised model",
                       description="Train a supervised model of the course on a dataset.")
    add_recipe(p)
    p.add_argument("--logdir", metavar="DIR",
                   help="TensorBoard run directory (train/ and test/ inside)")
    p.add_argument("--checkpoint", metavar="PATH", help="write a checkpoint here at each eval")
    add_alias(p, "--save", "checkpoint", metavar="PATH")
    p.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint")
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
    e.add_argument("--dataset", default="mnist-10k",
                   help="dataset name, NAME:options, an IDX directory or mnist.pkl.gz")
    add_data_source(e)
    add_device(e)
    add_json(e)
    e.set_defaults(func=cmd_eval)


def add_recipe(p: argparse.ArgumentParser) -> None:
    """Model, data and optimisation flags shared by `train` and `curve`."""
    p.add_argument("model", choices=sorted(MODELS), help="model to train")
    p.add_argument("--dataset", default="mnist-10k", help="dataset name or IDX directory")
    add_data_source(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="total epochs of the run (default: one "
                        "epoch when --steps is not given either)")
    length.add_argument("--steps", type=int, help="total optimizer steps of the run")
    p.add_argument("--batch-size", type=int, default=50,
                   help="examples per step (the global batch under torchrun; gd: all)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                   help="gd: full batch (eq. 4), sgd: mini-batch, momentum: eq. 5, adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="nu of the course's eq. 5")
    p.add_argument("--l2", type=float, default=0.0,
                   help="L2 weight penalty: mu of the course's eq. 6 (loss + mu sum a^2)")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout probability (deepnn: 0.5 as in the course; net3: 0.5 after "
                        "its dense layers, half that after its pooling layers)")
    p.add_argument("--hidden", default="128", help="mlp: hidden sizes, e.g. 256,128")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                   help="mlp: the hidden layers' activation")
    p.add_argument("--degree", type=int, default=1, help="polynomial degree")
    p.add_argument("--pool", choices=POOLS, default="max", help="deepnn: pooling")
    p.add_argument("--eval-every", type=int, default=0, help="steps between evaluations "
                   "(default: once an epoch)")
    p.add_argument("--patience", type=int, default=0,
                   help="early stopping after this many evaluations without improvement")
    p.add_argument("--val-size", type=int, help="validation examples held out of training")
    p.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                   help="augment: translate each training image by up to PIXELS in x and y")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="CUDA, one process: replay each training step from a captured graph")
    p.add_argument("--precision", choices=TRAIN_PRECISIONS, default="float32",
                   help="bf16: the forward pass under bfloat16 autocast, weights and optimiser "
                        "in float32 (where the device multiplies bfloat16 natively)")
    add_device(p)
    add_seed(p)


def recipe_from(args):
    """The ModelConfig and TrainConfig the flags describe."""
    from layerwise.nn.models import ModelConfig
    from layerwise.train.trainer import TrainConfig

    hidden = tuple(whole_numbers(args.hidden, "--hidden"))
    cfg = TrainConfig(optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                      l2=args.l2, batch_size=args.batch_size, seed=args.seed,
                      eval_every=args.eval_every, patience=args.patience, shift=args.shift,
                      cuda_graphs=args.cuda_graphs, steps=args.steps, epochs=args.epochs,
                      precision=args.precision)
    model = ModelConfig(args.model, dropout=args.dropout, activation=args.activation,
                        hidden=hidden, degree=args.degree, pool=args.pool)
    return model, cfg


MODEL_FLAGS = {"model": "name", "dropout": "dropout", "activation": "activation",
               "hidden": "hidden", "degree": "degree", "pool": "pool"}
TRAIN_FLAGS = {dest: dest for dest in (
    "optimizer", "lr", "momentum", "l2", "batch_size", "seed", "eval_every", "patience", "shift",
    "cuda_graphs", "steps", "epochs", "precision")}


def resumed_recipe(args, model, cfg):
    """With --resume: the checkpoint's model and recipe with the flags given changed (fit
    applies the changes a resumed run may make and refuses the others)."""
    from layerwise.resume import resume_recipe

    recipe = resume_recipe(args.resume, model=given_fields(args, model, MODEL_FLAGS),
                           train=given_fields(args, cfg, TRAIN_FLAGS))
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

    model, cfg = recipe_from(args)
    if args.resume:
        model, cfg = resumed_recipe(args, model, cfg)
    run = run_config(args, logdir=args.logdir, resume=args.resume, val_size=args.val_size)
    result = fit(model, args.dataset, cfg, run, checkpoint=args.checkpoint, init=args.init,
                 freeze=args.freeze, curves=args.curves, progress=show_progress(args))
    if env_rank() != 0:  # under torchrun rank 0 reports for all
        return 0
    figures = result.to_dict()
    emit([f"{result_line(figures)}, {figures['steps']} steps in "
          f"{figures['train_seconds']:.2f} s"], figures, args.json)
    return 0


def cmd_eval(args) -> int:
    from layerwise.train.run import evaluate_checkpoint

    figures = evaluate_checkpoint(args.checkpoint, args.dataset, run_config(args))
    emit([result_line(figures)] + ([f"note: {figures['note']}"] if "note" in figures else []),
         figures, args.json)
    return 0


def cmd_curve(args) -> int:
    sizes = sorted(set(whole_numbers(args.sizes, "--sizes")))
    if not sizes:
        raise ConfigError("--sizes needs at least one training-set size.")
    if not args.out:
        raise ConfigError("curve needs --plots DIR: where its CSV and PNG go.")
    from layerwise.train.run import learning_curve

    model, cfg = recipe_from(args)
    figures = learning_curve(model, args.dataset, cfg, sizes, args.out,
                             run_config(args, val_size=args.val_size), progress=show_progress(args))
    lines = [f"{'size':>8} {'train error':>12} {'val error':>10}"]
    lines += [f"{r['train_size']:>8} {r['train_error']:>12.4f} {r['val_error']:>10.4f}"
              for r in figures["curve"]]
    lines.append(f"wrote {figures['csv']} and {figures['png']}")
    emit(lines, figures, args.json)
    return 0
