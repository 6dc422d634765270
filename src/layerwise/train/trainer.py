"""The supervised training loop: plain, visible, top to bottom.

Per step: take the next index slice of the epoch's permutation, compute the loss (cross-entropy
for classification, eq. 9; mean squared error for regression, eq. 2) plus mu * sum a^2 (eq. 6),
back-propagate, update. Every `eval_every` steps (and at the end) evaluate on the validation set.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from layerwise.data.datasets import Dataset, Split, StreamedSplit, epoch_batches
from layerwise.device import native_bf16
from layerwise.distributed import Dist
from layerwise.errors import ConfigError, LayerwiseError
from layerwise.names import TRAIN_PRECISIONS
from layerwise.progress import Progress
from layerwise.settings import check_argument
from layerwise.train.config import TrainConfig  # noqa: F401 - its home; re-exported here
from layerwise.train.graphs import GraphedStep
from layerwise.train.optim import build_optimizer, l2_penalty, match_state_layouts

PRECISIONS = TRAIN_PRECISIONS


class DivergedError(LayerwiseError):
    """The loss became NaN or infinite."""


@dataclass
class History:
    """Per-evaluation records: step, train loss (mean since the last eval), validation figures."""

    rows: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    steps: int
    train_seconds: float
    history: History
    best_step: int | None = None


def random_shift(x: torch.Tensor, s: int) -> torch.Tensor:
    """Translate each image of x (B, C, H, W) by its own (dy, dx), each uniform in [-s, s],
    filling with zeros: the classic augmentation for digits, on x's device, drawn from the
    global generator (whose state checkpoints carry)."""
    B, _, H, W = x.shape
    padded = F.pad(x, (s, s, s, s))
    dy, dx = torch.randint(0, 2 * s + 1, (2, B, 1), device=x.device)
    rows = (dy + torch.arange(H, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx + torch.arange(W, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[b, c, rows, cols]


def channels_last_on_cpu(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether to train in channels-last order: a convolutional model on images on the CPU.

    oneDNN's max pooling on NHWC tensors is about 15x faster than PyTorch's NCHW kernel and
    its convolutions are as fast or faster there, so a deepnn step on the CPU takes ~20 % less
    time in channels-last (`layerwise bench lab7` times it beside the plain loop). On CUDA the
    best layout depends on the dtype and cuDNN's choices, so it is left as it is."""
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return x.device.type == "cpu" and x.dim() == 4 and convolutional


def loss_fn(task: str):
    return F.cross_entropy if task == "classification" else F.mse_loss


@torch.no_grad()
def evaluate(model: nn.Module, split: Split | StreamedSplit, task: str, batch_size: int = 2000,
             dist: Dist | None = None) -> dict:
    """Mean loss over `split` and accuracy (classification) or MSE (regression).

    With `dist` spanning K ranks, rank k evaluates the k-th contiguous K-th of `split` and the
    sums are all-reduced, so the figures cover every example exactly once on every rank. A
    streamed split is read whole, in the loader's batches."""
    check_argument(split, "split", (Split, StreamedSplit), "a Split (e.g. data.test)")
    was_training = model.training
    model.eval()
    n = len(split)
    lo, hi = (n * dist.rank // dist.world_size, n * (dist.rank + 1) // dist.world_size) \
        if dist is not None else (0, n)
    sums = torch.zeros(2, dtype=torch.float64, device=split.x.device)  # loss, correct
    for x, y in split.batches(batch_size, lo, hi):
        out = model(x)
        sums[0] += loss_fn(task)(out, y, reduction="sum").double()
        if task == "classification":
            sums[1] += (out.argmax(1) == y).sum()
    if dist is not None:
        dist.all_reduce(sums, "gathering the evaluation")
    total_loss, correct = float(sums[0]), int(sums[1])
    model.train(was_training)
    if task == "classification":
        return {"loss": total_loss / n, "accuracy": correct / n}
    mse = total_loss / (n * split.y[0].numel())
    return {"loss": mse, "mse": mse}


def precision_context(precision: str, device: torch.device):
    """A factory of the forward pass's autocast context: bfloat16 autocast for "bf16" (refused,
    in one sentence, where bfloat16 products would be emulated: several times slower than
    float32), nothing for "float32"."""
    if precision == "float32":
        return nullcontext
    if not native_bf16(device):
        raise ConfigError(f"--precision bf16 needs native bfloat16 products, which {device} "
                          "lacks (no AMX or AVX-512 BF16 on this CPU): they would be emulated, "
                          "slower than float32; train in float32 here.")
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def test_figures(data: Dataset):
    """`figures(model)`: `evaluate` on data's test split (what TensorBoard's `test/` writer
    shows), or None when the dataset has no test split."""
    if not len(data.test):
        return None
    return lambda model: evaluate(model, data.test, data.task)


def train(model: nn.Module, data: Dataset, cfg: TrainConfig, *, progress: bool = True,
          start_step: int = 0, optimizer: torch.optim.Optimizer | None = None,
          batch_state: torch.Tensor | None = None, monitor=None, checkpoint=None,
          dist: Dist | None = None, scheduler=None) -> TrainResult:
    """Train `model` on `data.train` until `cfg`'s total step count, starting at `start_step`.

    Batch order: each epoch is one `randperm` from a generator seeded with `cfg.seed`. When
    resuming, `batch_state` is that generator's state at the start of the interrupted epoch, and
    the batches already taken in it are skipped, so the run continues exactly as if it had never
    stopped. `optimizer` carries its restored state when resuming.

    `monitor.end_eval(step, model, row)` is called after each evaluation (TensorBoard), then
    `checkpoint(step, optimizer, batch_state)` (a checkpoint writer): both optional.

    Data parallel (`dist` over K ranks, DistributedDataParallel): every rank draws the same
    permutation and takes the k-th contiguous K-th of each global batch of B. Its loss is the
    sum over its examples times K / B, so DDP's average of the K gradients is the gradient of
    the global batch's mean loss however the batch divides.

    A streamed `data.train` (a DataLoader too big for the device) gives its own batches, one
    per step, moved to the device as they come; an epoch is one pass over the loader.
    `scheduler` (a torch.optim.lr_scheduler) is stepped after every optimizer step.
    """
    device = data.train.x.device
    ranks = dist.world_size if dist is not None and dist.active else 1
    channels_last = channels_last_on_cpu(model, data.train.x)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net = dist.wrap(model) if ranks > 1 else model
    task, n = data.task, len(data.train)
    streamed = isinstance(data.train, StreamedSplit)
    if streamed:
        _check_streamed(cfg, ranks)
        per_epoch = len(data.train.loader)
        total = cfg.steps if cfg.steps is not None else per_epoch * (cfg.epochs or 1)
    else:
        batch = cfg.batch_for(n)
        total = cfg.total_steps(n)
        per_epoch = math.ceil(n / batch)
    eval_every = cfg.eval_every or per_epoch
    if optimizer is None:
        optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum)
    match_state_layouts(optimizer)  # a resumed state may be in another layout than the model
    if cfg.cuda_graphs and ranks > 1:
        raise ConfigError(f"--cuda-graphs trains in one process; this run has {ranks} ranks.")
    if cfg.cuda_graphs and scheduler is not None:
        raise ConfigError("--cuda-graphs replays each step with its learning rate fixed at "
                          "capture; a learning-rate schedule needs it off.")
    autocast = precision_context(cfg.precision, device)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        """The loss of the global batch idx on this process: all of it, or this rank's
        contiguous K-th with the loss summed x K / B."""
        mine = idx if ranks == 1 else \
            idx[len(idx) * dist.rank // ranks:len(idx) * (dist.rank + 1) // ranks]
        x, y = data.train.x.index_select(0, mine), data.train.y.index_select(0, mine)
        return loss_of(x, y, len(idx))

    def loss_of(x: torch.Tensor, y: torch.Tensor, B: int) -> torch.Tensor:
        """The loss of this process's examples (x, y) of a global batch of B."""
        if cfg.shift and x.dim() == 4:
            x = random_shift(x, cfg.shift)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            if ranks == 1:
                loss = loss_fn(task)(net(x), y)
            else:
                per_example = 1 if task == "classification" else y[0].numel()
                loss = loss_fn(task)(net(x), y, reduction="sum") * (
                    ranks / (B * per_example))
        loss = loss.float()
        return loss + cfg.l2 * l2_penalty(model) if cfg.l2 else loss

    graphed = GraphedStep(batch_loss, model, optimizer, device) if cfg.cuda_graphs else None
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    if batch_state is not None:
        generator.set_state(batch_state)
    skip = start_step % per_epoch
    history, best, best_state, best_step, stale = History(), math.inf, None, None, 0
    model.train()
    step, running, count = start_step, torch.zeros((), device=device), 0
    bar = Progress(total, "train", "step", progress, initial=start_step)
    start = time.perf_counter()
    while step < total:
        epoch_state = generator.get_state()
        epoch = data.train.batches() if streamed else epoch_batches(n, batch, generator)
        for i, idx in enumerate(epoch):
            if i < skip:
                continue
            if graphed is not None:
                loss = graphed.run(idx)
            else:
                loss = loss_of(*idx, len(idx[0])) if streamed else batch_loss(idx)
                optimizer.zero_grad(set_to_none=True)
                with dist.guard("the gradient all-reduce") if ranks > 1 else nullcontext():
                    loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            running += loss.detach()
            count += 1
            step += 1
            bar.update(1)
            if step % eval_every == 0 or step == total:
                if ranks > 1:  # the global batch's loss is the mean of the ranks' losses
                    dist.all_reduce(running, "averaging the training loss")
                    running /= ranks
                row = _evaluation_row(model, data, cfg, step, float(running) / count, dist)
                history.rows.append(row)
                bar.note(evaluation_line(row, bar.elapsed))
                if monitor is not None:
                    monitor.end_eval(step, model, row)
                if checkpoint is not None:
                    # At an epoch's end the next epoch starts from the generator's current state.
                    state = generator.get_state() if step % per_epoch == 0 else epoch_state
                    checkpoint(step, optimizer, state)
                running.zero_()
                count = 0
                score = row.get("val_loss", row["train_loss"])
                if score < best:
                    best, best_step, stale = score, step, 0
                    if cfg.patience:
                        best_state = {k: v.clone() for k, v in model.state_dict().items()}
                elif cfg.patience:
                    stale += 1
                    if stale >= cfg.patience:
                        total = step  # stop here; the best weights are restored below
            if step >= total:
                break
        skip = 0
    if total == 0 and checkpoint is not None:  # --steps 0: the initial state, as RBMs do
        checkpoint(0, optimizer, generator.get_state())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(step, seconds, history, best_step)


def _check_streamed(cfg: TrainConfig, ranks: int) -> None:
    """What a run on a streamed DataLoader cannot do, in one sentence each."""
    if cfg.optimizer == "gd":
        raise ConfigError("TrainConfig.optimizer 'gd' takes the whole training set every step, "
                          "which a streamed DataLoader cannot hold; use sgd, momentum or adam.")
    if ranks > 1 or cfg.cuda_graphs:
        raise ConfigError("a streamed DataLoader trains in one process without CUDA graphs; "
                          "pass tensors (or stream=False) for data parallel or graphed runs.")


def loss_text(loss: float) -> str:
    """A loss with four decimals, or three significant digits below 0.001 (where four
    decimals would print a regression's 5.7e-11 as 0.0000)."""
    return f"{loss:.4f}" if abs(loss) >= 1e-3 or loss == 0 else f"{loss:.3g}"


def evaluation_line(row: dict, elapsed: float) -> str:
    """One evaluation as the course printed them: `step 1000: train loss 0.1234, validation
    loss 0.0567, accuracy 0.9812 (35 s)`."""
    parts = [f"step {row['step']}: train loss {loss_text(row['train_loss'])}"]
    if "val_loss" in row:
        parts.append(f"validation loss {loss_text(row['val_loss'])}")
    if "val_accuracy" in row:
        parts.append(f"accuracy {row['val_accuracy']:.4f}")
    elif "val_mse" in row:
        parts.append(f"mse {row['val_mse']:.4g}")
    return ", ".join(parts) + (f" ({elapsed:.1f} s)" if elapsed < 10 else f" ({elapsed:.0f} s)")


def _evaluation_row(model: nn.Module, data: Dataset, cfg: TrainConfig, step: int,
                    train_loss: float, dist: Dist | None = None) -> dict:
    """Figures at one evaluation; stops the run if the training loss is no longer finite."""
    if not math.isfinite(train_loss):
        raise DivergedError(
            f"the training loss became {train_loss} by step {step}; lower --lr (or add "
            "--l2) and start again, or resume from the last checkpoint if one was written.")
    row = {"step": step, "train_loss": train_loss}
    if data.val is not None and len(data.val):
        row.update({f"val_{k}": v for k, v in
                    evaluate(model, data.val, data.task, cfg.eval_batch_size, dist).items()})
    return row
