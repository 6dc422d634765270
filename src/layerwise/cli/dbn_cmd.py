"""`layerwise dbn train`: greedy layer-wise RBMs, unrolled and fine-tuned."""

from __future__ import annotations

import argparse
import dataclasses

from layerwise.cli.common import (
    add_data,
    add_json,
    emit,
    run_config,
    show_progress,
    whole_numbers,
)
from layerwise.cli.flags import add_setting
from layerwise.cli.rbm_cmd import add_cd, cd_config
from layerwise.rbm.config import DBN_LAYERS, FINETUNE
from layerwise.run_config import RunConfig


def register(sub: argparse._SubParsersAction) -> None:
    dbn = sub.add_parser("dbn", help="Deep Belief Networks",
                         description="Greedy layer-wise RBMs, unrolled and fine-tuned.")
    dcmds = dbn.add_subparsers(dest="dbn_command", required=True, metavar="ACTION")
    d = dcmds.add_parser("train", help="pretrain a DBN, fine-tune it, compare with random init")
    add_data(d)
    d.add_argument("--layers", default=",".join(map(str, DBN_LAYERS)),
                   help="hidden sizes, e.g. 500,500,2000")
    d.add_argument("--binarize", action="store_true", help="threshold pixels at 0.5")
    add_cd(d, gaussian=False)
    # The fine-tuning's TrainConfig is FINETUNE with these two (and the CD batch and seed).
    d.add_argument("--finetune-epochs", type=int, default=argparse.SUPPRESS,
                   help="epochs of supervised fine-tuning (each net)"
                   ).config_default = FINETUNE.epochs
    d.add_argument("--finetune-lr", type=float, default=argparse.SUPPRESS,
                   help="Adam learning rate").config_default = FINETUNE.lr
    add_setting(d, RunConfig, "logdir",
                help="TensorBoard events of both fine-tunings (DIR/dbn, DIR/random_init)")
    d.add_argument("--checkpoint", metavar="PATH",
                   help="keep the fine-tuned DBN here (layerwise.rbm.dbn.load_dbn opens it)")
    add_json(d)
    d.set_defaults(func=cmd_dbn)


def cmd_dbn(args) -> int:
    from layerwise.rbm.dbn import train_dbn

    layers = tuple(whole_numbers(args.layers, "--layers"))
    cd = cd_config(args)
    finetune = dataclasses.replace(FINETUNE, lr=getattr(args, "finetune_lr", FINETUNE.lr),
                                   epochs=getattr(args, "finetune_epochs", FINETUNE.epochs),
                                   batch_size=cd.batch_size, seed=cd.seed)
    figures = train_dbn(args.dataset, layers, cd, finetune, run_config(args), args.binarize,
                        checkpoint=args.checkpoint, progress=show_progress(args)).to_dict()
    lines = [f"DBN {args.layers} on {args.dataset} ({figures['device']}): test accuracy "
             f"{figures['dbn_accuracy']:.4f}; same net from random initialisation "
             f"{figures['random_init_accuracy']:.4f}",
             f"pretraining {figures['pretrain_seconds']:.1f} s, fine-tuning "
             f"{figures['dbn_finetune_seconds']:.1f} s (random init "
             f"{figures['random_init_finetune_seconds']:.1f} s)"]
    if "checkpoint" in figures:
        lines.append(f"wrote {figures['checkpoint']}")
    emit(lines, figures, args)
    return 0
