"""`layerwise dbn train`: greedy layer-wise RBMs, unrolled and fine-tuned."""

from __future__ import annotations

import argparse

from layerwise.cli.common import add_json, emit, run_config, show_progress, whole_numbers
from layerwise.cli.rbm_cmd import add_cd, add_data, cd_config


def register(sub: argparse._SubParsersAction) -> None:
    dbn = sub.add_parser("dbn", help="Deep Belief Networks",
                         description="Greedy layer-wise RBMs, unrolled and fine-tuned.")
    dcmds = dbn.add_subparsers(dest="dbn_command", required=True, metavar="ACTION")
    d = dcmds.add_parser("train", help="pretrain a DBN, fine-tune it, compare with random init")
    add_data(d)
    d.add_argument("--layers", default="500,500,2000", help="hidden sizes, e.g. 500,500,2000")
    d.add_argument("--binarize", action="store_true", help="threshold pixels at 0.5")
    add_cd(d, gaussian=False)
    d.add_argument("--finetune-epochs", type=int, default=5,
                   help="epochs of supervised fine-tuning (each net)")
    d.add_argument("--finetune-lr", type=float, default=1e-3, help="Adam learning rate")
    d.add_argument("--logdir", metavar="DIR",
                   help="TensorBoard events of both fine-tunings (DIR/dbn, DIR/random_init)")
    d.add_argument("--checkpoint", metavar="PATH",
                   help="keep the fine-tuned DBN here (layerwise.rbm.dbn.load_dbn opens it)")
    add_json(d)
    d.set_defaults(func=cmd_dbn)


def cmd_dbn(args) -> int:
    import dataclasses

    from layerwise.rbm.dbn import FINETUNE, train_dbn

    layers = tuple(whole_numbers(args.layers, "--layers"))
    finetune = dataclasses.replace(FINETUNE, lr=args.finetune_lr, batch_size=args.batch_size,
                                   epochs=args.finetune_epochs, seed=args.seed)
    figures = train_dbn(args.dataset, layers, cd_config(args), finetune,
                        run_config(args, logdir=args.logdir), args.binarize,
                        checkpoint=args.checkpoint, progress=show_progress(args))
    lines = [f"DBN {args.layers} on {args.dataset} ({figures['device']}): test accuracy "
             f"{figures['dbn_accuracy']:.4f}; same net from random initialisation "
             f"{figures['random_init_accuracy']:.4f}",
             f"pretraining {figures['pretrain_seconds']:.1f} s, fine-tuning "
             f"{figures['dbn_finetune_seconds']:.1f} s (random init "
             f"{figures['random_init_finetune_seconds']:.1f} s)"]
    if "checkpoint" in figures:
        lines.append(f"wrote {figures['checkpoint']}")
    emit(lines, figures, args.json)
    return 0
