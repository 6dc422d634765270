"""`layerwise rbm train|comm-table` (the other rbm actions: rbm_tools_cmd; DBNs: dbn_cmd)."""

from __future__ import annotations

import argparse

from layerwise.cli import rbm_projection_cmd, rbm_tools_cmd
from layerwise.cli.common import (
    add_alias,
    add_data,
    add_json,
    emit,
    run_config,
    show_progress,
    whole_numbers,
)
from layerwise.cli.flags import add_setting, add_settings, config_from, given
from layerwise.errors import ConfigError
from layerwise.rbm.comm import Problem
from layerwise.rbm.config import BINARY_LR, CDConfig, ParallelConfig, RBMConfig
from layerwise.run_config import RunConfig
from layerwise.settings import fields_of


def register(sub: argparse._SubParsersAction) -> None:
    rbm = sub.add_parser("rbm", help="Restricted Boltzmann Machines",
                         description="Train, sample, evaluate and inspect RBMs.")
    cmds = rbm.add_subparsers(dest="rbm_command", required=True, metavar="ACTION")

    t = cmds.add_parser("train", help="train an RBM by CD-k or PCD",
                        description="Train an RBM on a dataset's training images.")
    add_data(t)
    add_settings(t, RBMConfig, "visible", "n_hidden", "learn_sigma")
    t.add_argument("--binarize", action="store_true", default=argparse.SUPPRESS,
                   help="threshold pixels at 0.5")
    add_setting(t, RBMConfig, "dtype")
    add_cd(t)
    add_setting(t, RunConfig, "logdir")
    t.add_argument("--checkpoint", metavar="PATH", dest="save",
                   help="checkpoint, rewritten after every epoch")
    add_alias(t, "--save", "save", metavar="PATH")
    add_setting(t, RunConfig, "resume")
    t.add_argument("--plots", metavar="DIR", dest="images",
                   help="write filters.png (every hidden unit's weights) here")
    add_alias(t, "--images", "images", metavar="DIR")
    t.add_argument("--eval-features", action="store_true",
                   help="softmax on RBM features vs on raw pixels, same recipe, same run")
    t.add_argument("--cuda-graphs", action="store_true",
                   help="CUDA: replay each epoch from one captured graph (CD-k, not --pcd)")
    add_setting(t, RunConfig, "val_size", help="training examples held out for the per-epoch "
                                               "measures (default 10%%)")
    par = t.add_argument_group("parallel training (under torchrun; see README)")
    # Given, --parallel makes the run parallel: without it there is no ParallelConfig at all.
    algorithm = fields_of(ParallelConfig)["algorithm"].metadata["help"]
    add_setting(par, ParallelConfig, "algorithm", help=algorithm + " (default: none, one process)")
    add_settings(par, ParallelConfig, "sync_every", "rng_blocks")
    par.add_argument("--shards", metavar="DIR",
                     help="write a sharded checkpoint here after every epoch (resume it with "
                          "--resume DIR and the same number of ranks)")
    add_json(t)
    t.set_defaults(func=cmd_train)

    c = cmds.add_parser("comm-table", help="bytes each parallel algorithm sends",
                        description="The report's communication model: bytes sent per epoch "
                        "by all ranks for each algorithm and K, and its inequality.")
    add_settings(c, Problem, "n_visible", "n_hidden", "examples", "batch_size")
    c.add_argument("--ranks", default="1,2,4,8", help="K values")
    add_json(c)
    c.set_defaults(func=cmd_comm_table)
    rbm_projection_cmd.register(cmds)
    rbm_tools_cmd.register(cmds)


def add_cd(p: argparse.ArgumentParser, gaussian: bool = True) -> None:
    """CDConfig's flags; `gaussian` False for commands with binary units only (dbn)."""
    add_settings(p, CDConfig, "cd_k", "persistent", "sample_visible", "epochs", "batch_size")
    add_setting(p, CDConfig, "lr", help=None if gaussian else
                f"learning rate (default {BINARY_LR:g})")
    add_settings(p, CDConfig, "momentum", "weight_decay")
    add_alias(p, "--weight-decay", "weight_decay", type=float, default=argparse.SUPPRESS)
    add_settings(p, CDConfig, "matmul", "seed")


def cd_config(args) -> CDConfig:
    """The CDConfig the CD flags describe."""
    return config_from(args, CDConfig)


def resumed_recipe(args, parallel):
    """With --resume: the checkpoint's architecture and recipe with the flags given changed
    (fit_rbm applies the changes a resumed run may make and refuses the others)."""
    from layerwise.resume import resume_recipe

    recipe = resume_recipe(
        args.resume, model=given(args, RBMConfig), train=given(args, CDConfig),
        parallel=given(args, ParallelConfig) if parallel else None)
    if recipe.kind != "rbm":
        raise ConfigError(f"--resume {args.resume} holds a supervised run; continue it with "
                          "`layerwise train MODEL --resume`.")
    if parallel is not None and recipe.parallel is not None:
        parallel = recipe.parallel
    return recipe.model, recipe.train, parallel


def cmd_train(args) -> int:
    from layerwise.distributed import env_rank
    from layerwise.rbm.run import fit_rbm

    model, cd, run = config_from(args, RBMConfig), cd_config(args), run_config(args)
    parallel = config_from(args, ParallelConfig) if "algorithm" in vars(args) else None
    if run.resume:
        model, cd, parallel = resumed_recipe(args, parallel)
    binarize = getattr(args, "binarize", None)  # None: the checkpoint's, or False
    result = fit_rbm(model, args.dataset, cd, run, parallel=parallel,
                     binarize=binarize, checkpoint=args.save, shards=args.shards,
                     images=args.images, eval_features=args.eval_features,
                     cuda_graphs=args.cuda_graphs, progress=show_progress(args))
    if env_rank() != 0:  # under torchrun rank 0 reports for all
        return 0
    figures = result.to_dict()
    where = f"{figures['model']} on {figures['dataset']}"
    if parallel is not None:
        where += f", {figures['ranks']} rank(s), {figures['parallel']} algorithm"
    lines = [f"{where} ({figures['device']}): {figures['epochs']} epochs, "
             f"{figures['epoch_seconds'] or 0:.3f} s per epoch, test recon error "
             f"{figures['recon_error']:.5f}"]
    if "feature_accuracy" in figures:
        lines.append(f"softmax on RBM features {figures['feature_accuracy']:.4f}, "
                     f"on raw pixels {figures['raw_accuracy']:.4f}")
    if parallel is not None:
        sent = figures["sent_bytes_per_epoch"]
        lines.append(f"sent per epoch: {sum(sent) / 1e6:.3f} MB by all ranks (per rank "
                     f"{', '.join(f'{b / 1e6:.3f}' for b in sent)}); the communication model "
                     f"says {figures['model_bytes_per_epoch'] / 1e6:.3f} MB")
        if figures["sync_drift"]:
            lines.append(f"weight synchronisations: {len(figures['sync_drift'])}, largest "
                         f"drift removed {max(figures['sync_drift']):.3g}")
    lines += [f"wrote {path}" for path in figures.get("wrote", [])]
    emit(lines, figures, args)
    return 0


def cmd_comm_table(args) -> int:
    from layerwise.rbm import comm

    ranks = whole_numbers(args.ranks, "--ranks")
    if not ranks or min(ranks) < 1:
        raise ConfigError("--ranks needs whole numbers of at least 1, e.g. 1,2,4,8.")
    p = config_from(args, Problem)
    t = comm.table(p, ranks)
    lines = [f"MB (10^6 bytes) sent per epoch by all ranks together: V={p.n_visible}, "
             f"H={p.n_hidden}, N={p.examples}, batch {p.batch_size} (weight synchronisation "
             "excluded, as in the report)",
             f"{'algorithm':<9} {'visible':<9} {'precision':<9}"
             + "".join(f"{'K=' + str(k):>11}" for k in ranks)]
    for r in t["rows"]:
        lines.append(f"{r['algorithm']:<9} {r['visible']:<9} {r['precision']:<9}"
                     + "".join(f"{b / 1e6:>11.1f}" for b in r["bytes"]))
    lines.append("the report's inequality m h K + 4 m v K >= 4 v h (when it holds, "
                 "synchronising weights after every update sends less):")
    for q in t["inequality"]:
        lines.append(f"  K={q['ranks']}: {q['lhs']:,} {'>=' if q['holds'] else '<'} "
                     f"{q['rhs']:,}: {'holds' if q['holds'] else 'does not hold'}")
    emit(lines, t, args)
    return 0
