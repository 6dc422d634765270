"""Labs 6 and 7: softmax regression and the CNN "deepnn" on digits, from one seed or several
(`over_seeds`, whose accuracies `accuracy_over_seeds` summarises)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from layerwise.device import resolve_device
from layerwise.lab_options import DEFAULT_STEPS, LabOptions
from layerwise.labs import estimate, plots
from layerwise.labs.course import lab7_eval_every, wrap
from layerwise.nn.models import ModelConfig
from layerwise.runtime import RunConfig, as_dataset, check_outputs
from layerwise.train.run import FitResult, fit
from layerwise.train.trainer import TrainConfig

# What "train loss" in the progress lines above the note is, said once under them.
TRAIN_LOSS = {
    6: "note: train loss is the mean over the steps since the previous evaluation, on batches "
       "of 100 while the weights still moved; the validation loss is measured at the "
       "evaluation, on digits never trained on.",
    7: "note: train loss is the mean over the steps since the previous evaluation, with dropout "
       "on, so it reads higher than the validation loss (measured without dropout).",
}


def lab6(opts: LabOptions):
    cfg = TrainConfig(optimizer="sgd", lr=0.5, batch_size=100, steps=opts.steps_for(6),
                      eval_every=100, seed=opts.seed)
    results, lines, figures = _supervised(opts, 6, ModelConfig("softmax"), cfg)
    if opts.plots:
        first = results[0]
        fc = first.model[-1]  # logits = x W + b: weight (10, C*H*W)
        C, H, W = first.input_shape
        images = fc.weight.detach().reshape(-1, C, H, W).mean(1)  # (10, H, W), C = 1 for digits
        out = Path(opts.plots)
        figures["wrote"] = [
            str(plots.weights(images, out / "lab6-weights.png",
                              f"Lab 6: softmax W as images, one per digit, after "
                              f"{first.steps:,} steps on {first.dataset} (seed {opts.seed})\n"
                              "red: a dark pixel there votes for the digit, blue: against")),
            str(plots.learning_curves(first.history, out / "lab6-learning-curve.png",
                                      f"Lab 6 softmax, SGD lr 0.5, batches of 100, "
                                      f"{first.steps:,} steps on {first.dataset}"))]
    return lines, figures


def lab7(opts: LabOptions):
    steps = opts.steps_for(7)
    cfg = TrainConfig(optimizer="adam", lr=1e-4, batch_size=50, steps=steps,
                      eval_every=lab7_eval_every(steps), seed=opts.seed)
    results, lines, figures = _supervised(opts, 7, ModelConfig("deepnn"), cfg, timed=True)
    if opts.plots:
        first = results[0]
        figures["wrote"] = [str(plots.learning_curves(
            first.history, Path(opts.plots) / "lab7-learning-curves.png",
            f"Lab 7 deepnn, Adam 1e-4, batches of 50, {first.steps:,} of the course's 20,000 "
            f"steps on {first.dataset}" if first.steps < 20000 else
            f"Lab 7 deepnn, Adam 1e-4, batches of 50, 20,000 steps on {first.dataset}"))]
    return lines, figures


def _supervised(opts: LabOptions, number: int, model: ModelConfig, cfg: TrainConfig,
                timed: bool = False) -> tuple[list[FitResult], list[str], dict]:
    """Lab `number`'s runs (one per seed), the lines that say how they went and their figures;
    `timed`: say first how long the full recipe takes here (`estimate`)."""
    check_outputs(logdir=opts.logdir, plots=opts.plots)
    run = RunConfig(device=opts.device, logdir=opts.logdir)
    data = as_dataset(opts.dataset or "mnist-10k", run, opts.seed, resolve_device(run.device),
                      opts.progress)
    timing = estimate.announce(model, data, cfg, DEFAULT_STEPS[number], opts.seeds) \
        if timed and opts.progress else None
    if opts.seeds > 1:
        results = over_seeds(model, data, cfg, range(opts.seed, opts.seed + opts.seeds), run,
                             opts.progress)
        lines, figures = _over_seeds(opts, results)
    else:
        results = [fit(model, data, cfg, run, progress=opts.progress)]
        figures = results[0].to_dict()
        figures.pop("history")
        lines = wrap(TRAIN_LOSS[number]) if opts.progress else []
        lines.append(f"{figures['model']} on {figures['dataset']} ({figures['device']}): test "
                     f"accuracy {figures['test_accuracy']:.4f} after {figures['steps']} steps, "
                     f"{figures['train_seconds']:.1f} s")
    if timing is not None:
        figures["estimate"] = {"seconds_per_step": timing.seconds_per_step,
                               "timed_steps": timing.timed, "warmup_steps": timing.warmup,
                               "full_recipe_seconds": timing.seconds(DEFAULT_STEPS[number])}
    return results, lines, figures


def over_seeds(model: ModelConfig, data, cfg: TrainConfig, seeds: range, run: RunConfig,
               progress: bool = True) -> list[FitResult]:
    """`fit` of the same recipe from each seed in `seeds` (initial weights, batch order,
    dropout) on one load of `data` (a name, split with the first seed, or a Dataset); only the
    first run logs to `run.logdir`."""
    device = resolve_device(run.device)
    data = as_dataset(data, run, seeds[0], device, progress)
    results = []
    for seed in seeds:
        this = run if seed == seeds[0] else dataclasses.replace(run, logdir=None)
        results.append(fit(model, data, dataclasses.replace(cfg, seed=seed), this,
                           progress=False))
        if progress:
            print(f"seed {seed}: test accuracy {results[-1].test_accuracy:.4f} "
                  f"({results[-1].train_seconds:.1f} s)", flush=True)
    return results


def accuracy_over_seeds(results: list[FitResult]) -> dict:
    """The test accuracies of runs of one recipe: each, their mean, sample standard deviation,
    min and max."""
    accuracy = torch.tensor([r.test_accuracy for r in results], dtype=torch.float64)
    return {"each": accuracy.tolist(), "mean": float(accuracy.mean()),
            "std": float(accuracy.std()), "min": float(accuracy.min()),
            "max": float(accuracy.max())}


def _over_seeds(opts: LabOptions, results: list[FitResult]) -> tuple[list[str], dict]:
    """The lab's figures over the runs of `opts.seeds` seeds: `test_accuracy` is their mean,
    beside their standard deviation and each run's accuracy."""
    runs = [r.to_dict() for r in results]
    acc = accuracy_over_seeds(results)
    mean, std = acc["mean"], acc["std"]
    last = opts.seed + opts.seeds - 1
    figures = {**{k: v for k, v in runs[0].items() if k != "history"},
               "test_accuracy": mean, "test_accuracy_std": std,
               "test_accuracy_seeds": acc["each"], "seeds": [opts.seed, last],
               "test_loss": sum(r["test_loss"] for r in runs) / len(runs),
               "train_seconds": sum(r["train_seconds"] for r in runs) / len(runs)}
    lines = [f"{figures['model']} on {figures['dataset']} ({figures['device']}), seeds "
             f"{opts.seed}-{last}: test accuracy {mean:.4f} +- {std:.4f} "
             f"(min {acc['min']:.4f}, max {acc['max']:.4f}) after "
             f"{figures['steps']} steps, {figures['train_seconds']:.1f} s a run"]
    return lines, figures
