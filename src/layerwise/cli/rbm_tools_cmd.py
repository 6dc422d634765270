"""`layerwise rbm sample|features|ais|info`: what a trained RBM checkpoint can show."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerwise.cli.common import add_data, add_json, add_seed, emit, run_config, show_progress


def register(cmds: argparse._SubParsersAction) -> None:
    s = cmds.add_parser("sample", help="Gibbs samples from a trained RBM as a PNG")
    s.add_argument("checkpoint")
    s.add_argument("--out", required=True, metavar="PNG", help="the PNG to write")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--steps", type=int, default=1000, help="Gibbs steps (default 1000)")
    s.add_argument("--from-data", action="store_true",
                   help="start the chains at test images of --dataset instead of noise")
    add_data(s)
    add_seed(s)
    add_json(s)
    s.set_defaults(func=cmd_sample)

    f = cmds.add_parser("features", help="feature accuracy vs raw-pixel accuracy")
    f.add_argument("checkpoint")
    add_data(f)
    add_json(f)
    f.set_defaults(func=cmd_features)

    a = cmds.add_parser("ais", help="log Z by AIS (and exactly when small) and log-likelihood")
    a.add_argument("checkpoint")
    add_data(a)
    a.add_argument("--runs", type=int, default=100, help="independent annealing runs")
    a.add_argument("--betas", type=int, default=10000, help="temperatures (default 10000)")
    add_seed(a)
    add_json(a)
    a.set_defaults(func=cmd_ais)

    i = cmds.add_parser("info", help="what a checkpoint holds")
    i.add_argument("checkpoint")
    add_json(i)
    i.set_defaults(func=cmd_info)


def _open(args, with_data: bool = True):
    """The checkpoint's RBM and preprocessing on the flags' device, and --dataset checked to
    have one value per visible unit."""
    import torch

    from layerwise.errors import ConfigError
    from layerwise.rbm import io
    from layerwise.runtime import as_dataset, setup_device

    run = run_config(args)
    device = setup_device(run)
    payload = io.load_payload(args.checkpoint)
    rbm = io.rbm_from_payload(payload, args.checkpoint).to(device)
    prep = io.load_preprocessing(payload)
    if not with_data:
        return rbm, prep, None, torch.Generator(device).manual_seed(getattr(args, "seed", 0))
    data = as_dataset(args.dataset, run, 0, device, progress=False)
    if data.train.x[0].numel() != rbm.cfg.n_visible:
        raise ConfigError(f"{args.checkpoint} has {rbm.cfg.n_visible} visible units but "
                          f"{args.dataset}'s images have {data.train.x[0].numel()} pixels.")
    return rbm, prep, data, torch.Generator(device).manual_seed(getattr(args, "seed", 0))


def cmd_sample(args) -> int:
    from layerwise.rbm.images import gibbs_samples, mixing_note, sample_grid, save_png
    from layerwise.runtime import check_output_file

    check_output_file(args.out, "--out", "samples.png")
    rbm, prep, data, generator = _open(args, with_data=args.from_data)
    start = prep(data.test.x[:args.n], rbm.W.dtype) if data is not None else None
    samples = gibbs_samples(rbm, args.n, args.steps, generator, start)
    origin = f"test images of {args.dataset}" if args.from_data else "uniform noise"
    path = save_png(sample_grid(samples, prep), args.out,
                    f"{len(samples)} samples: {args.steps} Gibbs steps from {origin}; "
                    "the last step's probabilities")
    note = mixing_note(samples, args.steps)
    emit([f"wrote {len(samples)} samples after {args.steps} Gibbs steps from {origin} to {path}"]
         + ([f"note: {note}"] if note else []),
         {"png": str(path), "samples": len(samples), "steps": args.steps, "note": note},
         args)
    return 0


def cmd_features(args) -> int:
    from layerwise.rbm.features import compare

    rbm, prep, data, _ = _open(args)
    figures = compare(rbm, prep, data, progress=show_progress(args))
    emit([f"softmax on RBM features {figures['feature_accuracy']:.4f}, on raw pixels "
          f"{figures['raw_accuracy']:.4f} ({args.dataset} test set)"], figures, args)
    return 0


def cmd_ais(args) -> int:
    from layerwise.rbm.measures import held_out_likelihood

    rbm, prep, data, generator = _open(args)
    figures = held_out_likelihood(rbm, prep, data, args.runs, args.betas, generator,
                                  progress=show_progress(args))
    lines = [f"AIS log Z {figures['log_z']:.3f} (3 std. err.: {figures['log_z_low']:.3f} .. "
             f"{figures['log_z_high']:.3f}), {args.runs} runs x {args.betas} temperatures",
             f"test log-likelihood {figures['log_likelihood']:.3f} nats per example"
             + (" (test images thresholded at 0.5)" if figures["thresholded"] else "")]
    if "exact_log_z" in figures:
        lines.append(f"exact log Z {figures['exact_log_z']:.3f}")
    lines += [f"warning: {w}" for w in figures["warnings"]]
    emit(lines, figures, args)
    return 0


def cmd_info(args) -> int:
    from layerwise.rbm import io

    figures = io.describe(args.checkpoint)
    cfg, train = figures["model"], figures["train"]
    lines = [f"{Path(args.checkpoint).name}: rbm {cfg['n_visible']}x{cfg['n_hidden']} "
             f"{cfg['visible']} ({cfg['dtype']}), {figures['epochs']} epochs on "
             f"{figures['dataset'] or 'unknown data'}"]
    if train:
        lines.append(f"CD-{train['cd_k']}{' persistent' if train['persistent'] else ''}, "
                     f"batch {train['batch_size']}, lr {train['lr']}, momentum "
                     f"{train['momentum']}, weight decay {train['weight_decay']}")
    emit(lines, figures, args)
    return 0
