"""`layerwise rbm train|comm-table` (the other rbm actions: rbm_tools_cmd; DBNs: dbn_cmd)."""

from __future__ import annotations

import argparse

from layerwise.cli import rbm_projection_cmd, rbm_tools_cmd
from layerwise.cli.common import (
    add_alias,
    add_data_source,
    add_device,
    add_json,
    add_seed,
    emit,
    given,
    given_fields,
    run_config,
    show_progress,
    whole_numbers,
)
from layerwise.errors import ConfigError
from layerwise.names import (
    BINARY_LR,
    GAUSSIAN_LR,
    MATMUL_PRECISIONS,
    PARALLEL_ALGORITHMS,
    RBM_DTYPES,
)


def register(sub: argparse._SubParsersAction) -> None:
    rbm = sub.add_parser("rbm", help="Restricted Boltzmann Machines",
                         description="Train, sample, evaluate and inspect RBMs.")
    cmds = rbm.add_subparsers(dest="rbm_command", required=True, metavar="ACTION")

    t = cmds.add_parser("train", help="train an RBM by CD-k or PCD",
                        description="Train an RBM on a dataset's training images.")
    add_data(t)
    t.add_argument("--visible", choices=("binary", "gaussian"), default="binary",
                   help="visible units: binary (data in [0, 1]) or gaussian (standardised)")
    t.add_argument("--hidden", type=int, default=500, help="hidden units (default 500)")
    t.add_argument("--learn-sigma", action="store_true",
                   help="Gaussian units: learn each unit's sigma (log-parametrised, clamped)")
    t.add_argument("--binarize", action="store_true", help="threshold pixels at 0.5")
    t.add_argument("--dtype", choices=RBM_DTYPES, default="float32",
                   help="storage dtype of weights and states")
    add_cd(t)
    t.add_argument("--logdir", metavar="DIR", help="TensorBoard run directory")
    t.add_argument("--checkpoint", metavar="PATH", dest="save",
                   help="checkpoint, rewritten after every epoch")
    add_alias(t, "--save", "save", metavar="PATH")
    t.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint")
    t.add_argument("--plots", metavar="DIR", dest="images",
                   help="write filters.png (every hidden unit's weights) here")
    add_alias(t, "--images", "images", metavar="DIR")
    t.add_argument("--eval-features", action="store_true",
                   help="softmax on RBM features vs on raw pixels, same recipe, same run")
    t.add_argument("--cuda-graphs", action="store_true",
                   help="CUDA: replay each epoch from one captured graph (CD-k, not --pcd)")
    t.add_argument("--val-size", type=int,
                   help="training examples held out for the per-epoch measures (default 10%%)")
    par = t.add_argument_group("parallel training (under torchrun; see README)")
    par.add_argument("--parallel", choices=PARALLEL_ALGORITHMS,
                     help="split the RBM over the ranks: model (the report's algorithm), data "
                          "(batch slices, all-reduced updates) or visible (for H < V/2)")
    par.add_argument("--sync-every", type=int, default=80, metavar="N",
                     help="model: batches between weight synchronisations (default 80; 0 never)")
    par.add_argument("--rng-blocks", type=int, default=48, metavar="G",
                     help="units per layer are drawn in G blocks with their own generators, so "
                          "samples do not depend on the number of ranks (default 48)")
    par.add_argument("--shards", metavar="DIR",
                     help="write a sharded checkpoint here after every epoch (resume it with "
                          "--resume DIR and the same number of ranks)")
    add_json(t)
    t.set_defaults(func=cmd_train)

    c = cmds.add_parser("comm-table", help="bytes each parallel algorithm sends",
                        description="The report's communication model: bytes sent per epoch "
                        "by all ranks for each algorithm and K, and its inequality.")
    c.add_argument("--visible", type=int, default=8000, help="visible units (default 8000)")
    c.add_argument("--hidden", type=int, default=20000, help="hidden units (default 20000)")
    c.add_argument("--examples", type=int, default=8000, help="examples per epoch (8000)")
    c.add_argument("--batch-size", type=int, default=1000, help="mini-batch (default 1000)")
    c.add_argument("--ranks", default="1,2,4,8", help="K values (default 1,2,4,8)")
    add_json(c)
    c.set_defaults(func=cmd_comm_table)
    rbm_projection_cmd.register(cmds)
    rbm_tools_cmd.register(cmds)


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist-10k",
                   help="dataset name, NAME:options, or a directory of IDX files "
                        "(default mnist-10k)")
    add_data_source(p)
    add_device(p)


def add_cd(p: argparse.ArgumentParser, gaussian: bool = True) -> None:
    """The CD recipe's flags; `gaussian` False for commands with binary units only (dbn)."""
    p.add_argument("--cd-k", type=int, default=1, help="Gibbs steps per update (default 1)")
    p.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    p.add_argument("--sample-visible", action="store_true",
                   help="sample visible states in the chain (default: mean-field)")
    p.add_argument("--epochs", type=int, default=10, help="total epochs of the run")
    p.add_argument("--batch-size", type=int, default=100, help="examples per update")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {BINARY_LR:g} for binary visible units, "
                        f"{GAUSSIAN_LR:g} for Gaussian ones)" if gaussian else
                        f"learning rate (default {BINARY_LR:g})")
    p.add_argument("--momentum", type=float, default=0.5, help="momentum of the CD updates")
    p.add_argument("--l2", type=float, default=1e-4, dest="weight_decay", metavar="L2",
                   help="L2 weight penalty (weight decay): each update adds -lr * l2 * W")
    add_alias(p, "--weight-decay", "weight_decay", type=float)
    p.add_argument("--matmul", choices=MATMUL_PRECISIONS, default="full",
                   help="precision of the matrix products: full (the storage dtype), tf32 (CUDA "
                        "tensor cores) or bf16 (bfloat16 operands, float32 sums); weights and "
                        "updates stay float32")
    add_seed(p)


def cd_config(args):
    """The CDConfig the CD flags describe."""
    from layerwise.rbm.train import CDConfig

    return CDConfig(cd_k=args.cd_k, persistent=args.pcd, epochs=args.epochs,
                    batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                    weight_decay=args.weight_decay, sample_visible=args.sample_visible,
                    matmul=args.matmul, seed=args.seed)


MODEL_FLAGS = {"hidden": "n_hidden", "visible": "visible", "learn_sigma": "learn_sigma",
               "dtype": "dtype"}
CD_FLAGS = {"cd_k": "cd_k", "pcd": "persistent", "sample_visible": "sample_visible",
            "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "momentum": "momentum",
            "weight_decay": "weight_decay", "matmul": "matmul", "seed": "seed"}
PARALLEL_FLAGS = {"parallel": "algorithm", "sync_every": "sync_every",
                  "rng_blocks": "rng_blocks"}


def resumed_recipe(args, model, cd, parallel):
    """With --resume: the checkpoint's architecture and recipe with the flags given changed
    (fit_rbm applies the changes a resumed run may make and refuses the others)."""
    from layerwise.resume import resume_recipe

    recipe = resume_recipe(
        args.resume, model=given_fields(args, model, MODEL_FLAGS),
        train=given_fields(args, cd, CD_FLAGS),
        parallel=given_fields(args, parallel, PARALLEL_FLAGS) if parallel else None)
    if recipe.kind != "rbm":
        raise ConfigError(f"--resume {args.resume} holds a supervised run; continue it with "
                          "`layerwise train MODEL --resume`.")
    model, cd, stored_parallel = recipe.model, recipe.train, recipe.parallel
    if parallel is not None and stored_parallel is not None:
        parallel = stored_parallel
    return model, cd, parallel, args.binarize if "binarize" in given(args) else None


def cmd_train(args) -> int:
    from layerwise.distributed import env_rank
    from layerwise.rbm.model import RBMConfig
    from layerwise.rbm.parallel import ParallelConfig
    from layerwise.rbm.run import fit_rbm

    model = RBMConfig(n_hidden=args.hidden, visible=args.visible, learn_sigma=args.learn_sigma,
                      dtype=args.dtype)
    cd, binarize = cd_config(args), args.binarize
    parallel = ParallelConfig(args.parallel, args.sync_every, args.rng_blocks) \
        if args.parallel else None
    if args.resume:
        model, cd, parallel, binarize = resumed_recipe(args, model, cd, parallel)
    run = run_config(args, logdir=args.logdir, resume=args.resume, val_size=args.val_size)
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
    emit(lines, figures, args.json)
    return 0


def cmd_comm_table(args) -> int:
    from layerwise.rbm import comm

    ranks = whole_numbers(args.ranks, "--ranks")
    if not ranks or min(ranks) < 1:
        raise ConfigError("--ranks needs whole numbers of at least 1, e.g. 1,2,4,8.")
    p = comm.Problem(args.visible, args.hidden, args.examples, args.batch_size)
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
    emit(lines, t, args.json)
    return 0
