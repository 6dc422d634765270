"""`layerwise rbm train|sample|features|ais|info` and `layerwise dbn train`."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from layerwise.cli.common import add_data_source, add_json, emit
from layerwise.cli.train_cmd import add_device
from layerwise.data.datasets import load_dataset
from layerwise.distributed import env_world_size
from layerwise.errors import ConfigError
from layerwise.rbm import comm, io
from layerwise.rbm.data import fit_preprocessing
from layerwise.rbm.dbn import run_dbn
from layerwise.rbm.features import compare
from layerwise.rbm.images import save_png
from layerwise.rbm.measures import MAX_ENUMERATE, ais, exact_log_z, log_likelihood
from layerwise.rbm.model import DTYPES, MATMUL_PRECISIONS, RBMConfig
from layerwise.rbm.parallel import ALGORITHMS, ParallelConfig
from layerwise.rbm.parallel_run import run_parallel
from layerwise.rbm.run import RBMRun, gibbs_samples, run_rbm, sample_grid
from layerwise.rbm.train import CDConfig
from layerwise.train.run import RunConfig, setup_device
from layerwise.train.trainer import TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    rbm = sub.add_parser("rbm", help="Restricted Boltzmann Machines",
                         description="Train, sample, evaluate and inspect RBMs.")
    cmds = rbm.add_subparsers(dest="rbm_command", required=True, metavar="ACTION")

    t = cmds.add_parser("train", help="train an RBM by CD-k or PCD",
                        description="Train an RBM on a dataset's training images.")
    _add_data(t)
    t.add_argument("--visible", choices=("binary", "gaussian"), default="binary")
    t.add_argument("--hidden", type=int, default=500, help="hidden units (default 500)")
    t.add_argument("--learn-sigma", action="store_true",
                   help="Gaussian units: learn each unit's sigma (log-parametrised, clamped)")
    t.add_argument("--binarize", action="store_true", help="threshold pixels at 0.5")
    t.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    _add_cd(t)
    t.add_argument("--logdir", help="TensorBoard run directory")
    t.add_argument("--save", metavar="PATH", help="checkpoint, rewritten after every epoch")
    t.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint")
    t.add_argument("--images", metavar="DIR", help="write filters.png here")
    t.add_argument("--eval-features", action="store_true",
                   help="softmax on RBM features vs on raw pixels, same recipe, same run")
    t.add_argument("--cuda-graphs", action="store_true",
                   help="CUDA: replay each epoch from one captured graph (CD-k, not --pcd)")
    t.add_argument("--val-size", type=int,
                   help="training examples held out for the per-epoch measures (default 10%%)")
    par = t.add_argument_group("parallel training (under torchrun; see README)")
    par.add_argument("--parallel", choices=ALGORITHMS,
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

    s = cmds.add_parser("sample", help="Gibbs samples from a trained RBM as a PNG")
    s.add_argument("checkpoint")
    s.add_argument("--out", required=True, metavar="PNG")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--steps", type=int, default=1000, help="Gibbs steps (default 1000)")
    s.add_argument("--from-data", action="store_true",
                   help="start the chains at test images of --dataset instead of noise")
    _add_data(s)
    s.add_argument("--seed", type=int, default=0)
    add_json(s)
    s.set_defaults(func=cmd_sample)

    f = cmds.add_parser("features", help="feature accuracy vs raw-pixel accuracy")
    f.add_argument("checkpoint")
    _add_data(f)
    add_json(f)
    f.set_defaults(func=cmd_features)

    a = cmds.add_parser("ais", help="log Z by AIS (and exactly when small) and log-likelihood")
    a.add_argument("checkpoint")
    _add_data(a)
    a.add_argument("--runs", type=int, default=100)
    a.add_argument("--betas", type=int, default=10000, help="temperatures (default 10000)")
    a.add_argument("--seed", type=int, default=0)
    add_json(a)
    a.set_defaults(func=cmd_ais)

    i = cmds.add_parser("info", help="what a checkpoint holds")
    i.add_argument("checkpoint")
    add_json(i)
    i.set_defaults(func=cmd_info)

    dbn = sub.add_parser("dbn", help="Deep Belief Networks",
                         description="Greedy layer-wise RBMs, unrolled and fine-tuned.")
    dcmds = dbn.add_subparsers(dest="dbn_command", required=True, metavar="ACTION")
    d = dcmds.add_parser("train", help="pretrain a DBN, fine-tune it, compare with random init")
    _add_data(d)
    d.add_argument("--layers", default="500,500,2000", help="hidden sizes, e.g. 500,500,2000")
    d.add_argument("--binarize", action="store_true", help="threshold pixels at 0.5")
    _add_cd(d)
    d.add_argument("--finetune-epochs", type=int, default=5)
    d.add_argument("--finetune-lr", type=float, default=1e-3, help="Adam learning rate")
    add_json(d)
    d.set_defaults(func=cmd_dbn)


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist-10k", help="dataset name or IDX directory")
    add_data_source(p)
    add_device(p)


def _add_cd(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cd-k", type=int, default=1, help="Gibbs steps per update (default 1)")
    p.add_argument("--pcd", action="store_true", help="persistent contrastive divergence")
    p.add_argument("--sample-visible", action="store_true",
                   help="sample visible states in the chain (default: mean-field)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.05 binary, 0.001 Gaussian)")
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--matmul", choices=MATMUL_PRECISIONS, default="full",
                   help="precision of the matrix products: full (the --dtype), tf32 (CUDA tensor "
                        "cores) or bf16 (bfloat16 operands, float32 sums); weights and updates "
                        "stay float32")
    p.add_argument("--seed", type=int, default=0)


def _cd_config(args, gaussian: bool = False) -> CDConfig:
    lr = args.lr if args.lr is not None else (1e-3 if gaussian else 0.05)
    return CDConfig(cd_k=args.cd_k, persistent=args.pcd, epochs=args.epochs,
                    batch_size=args.batch_size, lr=lr, momentum=args.momentum,
                    weight_decay=args.weight_decay, sample_visible=args.sample_visible,
                    matmul=args.matmul, seed=args.seed)


def _run_config(args, **kw) -> RunConfig:
    return RunConfig(dataset=args.dataset, data_dir=args.data_dir, offline=args.offline,
                     device=args.device, threads=args.threads,
                     gpu_memory_fraction=args.gpu_memory_fraction, timeout=args.timeout, **kw)


def cmd_train(args) -> int:
    if args.parallel or env_world_size() > 1:
        return cmd_train_parallel(args)
    if args.shards:
        raise ConfigError("--shards is for parallel runs; add --parallel model|data|visible.")
    cfg = _cd_config(args, args.visible == "gaussian")
    model = None if args.resume else RBMConfig(1, args.hidden, visible=args.visible,
                                               learn_sigma=args.learn_sigma, dtype=args.dtype)
    opts = RBMRun(run=_run_config(args, logdir=args.logdir, resume=args.resume,
                                  val_size=args.val_size),
                  binarize=args.binarize, save=args.save, images=args.images,
                  eval_features=args.eval_features, cuda_graphs=args.cuda_graphs)
    figures = run_rbm(model, cfg, opts, progress=not args.json)
    lines = [f"{figures['model']} on {figures['dataset']} ({figures['device']}): "
             f"{figures['epochs']} epochs, {figures['epoch_seconds'] or 0:.3f} s per epoch, "
             f"test recon error {figures['recon_error']:.5f}"]
    if "feature_accuracy" in figures:
        lines.append(f"softmax on RBM features {figures['feature_accuracy']:.4f}, "
                     f"on raw pixels {figures['raw_accuracy']:.4f}")
    emit(lines, figures, args.json)
    return 0


def cmd_train_parallel(args) -> int:
    if not args.parallel:
        raise ConfigError(f"this job runs on {env_world_size()} ranks; choose how to split the "
                          "RBM with --parallel model|data|visible.")
    if args.eval_features or args.images or args.logdir:
        raise ConfigError("--eval-features, --images and --logdir are for single-process runs; "
                          "run them on the checkpoint that --save writes (rbm features, rbm "
                          "sample).")
    if args.cuda_graphs:
        raise ConfigError("--cuda-graphs is for single-process runs: the parallel algorithms "
                          "exchange states between the steps of an epoch.")
    cfg = _cd_config(args, args.visible == "gaussian")
    par = ParallelConfig(args.parallel, args.sync_every, args.rng_blocks)
    model = None if args.resume else RBMConfig(1, args.hidden, visible=args.visible,
                                               learn_sigma=args.learn_sigma, dtype=args.dtype)
    opts = RBMRun(run=_run_config(args, resume=args.resume, val_size=args.val_size),
                  binarize=args.binarize,
                  save=args.save)
    figures = run_parallel(model, cfg, par, opts, shards=args.shards, progress=not args.json)
    if not figures:  # ranks other than 0 report nothing
        return 0
    sent = figures["sent_bytes_per_epoch"]
    lines = [f"{figures['model']} on {figures['dataset']}, {figures['ranks']} rank(s), "
             f"{figures['parallel']} algorithm ({figures['device']}): {figures['epochs']} "
             f"epochs, {figures['epoch_seconds'] or 0:.3f} s per epoch, test recon error "
             f"{figures['recon_error']:.5f}",
             f"sent per epoch: {sum(sent) / 1e6:.3f} MB by all ranks (per rank "
             f"{', '.join(f'{b / 1e6:.3f}' for b in sent)}); the communication model says "
             f"{figures['model_bytes_per_epoch'] / 1e6:.3f} MB"]
    if figures["sync_drift"]:
        lines.append(f"weight synchronisations: {len(figures['sync_drift'])}, largest drift "
                     f"removed {max(figures['sync_drift']):.3g}")
    emit(lines, figures, args.json)
    return 0


def cmd_comm_table(args) -> int:
    try:
        ranks = [int(k) for k in args.ranks.split(",") if k.strip()]
    except ValueError:
        raise ConfigError(f"--ranks {args.ranks!r} is not a list of whole numbers.") from None
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


def _load(args):
    """The checkpoint's RBM and preprocessing, on the device the flags choose."""
    device = setup_device(_run_config(args))
    payload = io.load_payload(args.checkpoint)
    rbm = io.rbm_from_payload(payload, args.checkpoint).to(device)
    return rbm, io.load_preprocessing(payload), device


def _load_data(args, rbm, device):
    """--dataset, checked to have one pixel per visible unit of the checkpoint's RBM."""
    data = load_dataset(args.dataset, data_dir=args.data_dir, offline=args.offline,
                        device=device, progress=False)
    if data.train.x[0].numel() != rbm.cfg.n_visible:
        raise ConfigError(f"{args.checkpoint} has {rbm.cfg.n_visible} visible units but "
                          f"{args.dataset}'s images have {data.train.x[0].numel()} pixels.")
    return data


def cmd_sample(args) -> int:
    if args.n < 1 or args.steps < 1:
        raise ConfigError("-n and --steps must be at least 1.")
    rbm, prep, device = _load(args)
    generator = torch.Generator(device).manual_seed(args.seed)
    start = None
    if args.from_data:
        start = prep(_load_data(args, rbm, device).test.x[:args.n], rbm.W.dtype)
    samples = gibbs_samples(rbm, args.n, args.steps, generator, start)
    grid = sample_grid(samples, prep)
    if grid is None:
        raise ConfigError(f"{rbm.cfg.n_visible} visible units are not a square image, so the "
                          "samples cannot be drawn as one.")
    path = save_png(grid, args.out)
    emit([f"wrote {len(samples)} samples after {args.steps} Gibbs steps to {path}"],
         {"png": str(path), "samples": len(samples), "steps": args.steps}, args.json)
    return 0


def cmd_features(args) -> int:
    rbm, prep, device = _load(args)
    figures = compare(rbm, prep, _load_data(args, rbm, device))
    emit([f"softmax on RBM features {figures['feature_accuracy']:.4f}, on raw pixels "
          f"{figures['raw_accuracy']:.4f} ({args.dataset} test set)"], figures, args.json)
    return 0


def cmd_ais(args) -> int:
    rbm, prep, device = _load(args)
    data = _load_data(args, rbm, device)
    x_train, x_test = prep(data.train.x, rbm.W.dtype), prep(data.test.x, rbm.W.dtype)
    if not rbm.gaussian:  # a likelihood of binary vectors: grey levels are thresholded
        x_train, x_test = (x_train > 0.5).to(x_train), (x_test > 0.5).to(x_test)
    generator = torch.Generator(device).manual_seed(args.seed)
    result = ais(rbm, x_train, runs=args.runs, betas=args.betas, generator=generator)
    figures = {"log_z": result.log_z, "log_z_low": result.log_z_low,
               "log_z_high": result.log_z_high, "runs": result.runs, "betas": result.betas,
               "log_likelihood": log_likelihood(rbm, x_test, result.log_z)}
    lines = [f"AIS log Z {result.log_z:.3f} (3 std. err.: {result.log_z_low:.3f} .. "
             f"{result.log_z_high:.3f}), {args.runs} runs x {args.betas} temperatures",
             f"test log-likelihood {figures['log_likelihood']:.3f} nats per example"
             + ("" if rbm.gaussian else " (test images thresholded at 0.5)")]
    if min(rbm.cfg.n_visible, rbm.cfg.n_hidden) <= MAX_ENUMERATE:
        figures["exact_log_z"] = exact_log_z(rbm)
        lines.append(f"exact log Z {figures['exact_log_z']:.3f}")
    emit(lines, figures, args.json)
    return 0


def cmd_info(args) -> int:
    payload = io.load_payload(args.checkpoint)
    cfg, train = payload["model"], payload.get("train") or {}
    figures = {"model": cfg, "epochs": payload.get("step", 0), "train": train,
               "dataset": payload.get("extra", {}).get("dataset", "")}
    lines = [f"{Path(args.checkpoint).name}: rbm {cfg['n_visible']}x{cfg['n_hidden']} "
             f"{cfg['visible']} ({cfg['dtype']}), {figures['epochs']} epochs on "
             f"{figures['dataset'] or 'unknown data'}"]
    if train:
        lines.append(f"CD-{train['cd_k']}{' persistent' if train['persistent'] else ''}, "
                     f"batch {train['batch_size']}, lr {train['lr']}, momentum "
                     f"{train['momentum']}, weight decay {train['weight_decay']}")
    emit(lines, figures, args.json)
    return 0


def cmd_dbn(args) -> int:
    try:
        layers = tuple(int(h) for h in args.layers.split(",") if h.strip())
    except ValueError:
        raise ConfigError(f"--layers {args.layers!r} is not a list of whole numbers.") from None
    device = setup_device(_run_config(args))
    data = load_dataset(args.dataset, data_dir=args.data_dir, offline=args.offline,
                        seed=args.seed, device=device, progress=not args.json)
    prep = fit_preprocessing(data.train.x, "binary", args.binarize)
    finetune = TrainConfig(optimizer="adam", lr=args.finetune_lr, batch_size=args.batch_size,
                           epochs=args.finetune_epochs, seed=args.seed)
    figures = run_dbn(data, prep, layers, _cd_config(args), finetune, progress=not args.json)
    figures.update(dataset=args.dataset, device=str(device))
    emit([f"DBN {args.layers} on {args.dataset}: test accuracy {figures['dbn_accuracy']:.4f}; "
          f"same net from random initialisation {figures['random_init_accuracy']:.4f}"],
         figures, args.json)
    return 0
