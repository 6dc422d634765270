"""Deep Belief Networks: greedy layer-wise RBM training, then a fine-tuned classifier.

Each RBM is trained with CD on the hidden probabilities p(h | v) of the one below (Hinton,
Osindero and Teh, 2006). Unrolled, the stack is a feed-forward net of sigmoid layers with weights
W^T and biases b_hid, topped by a linear layer to the classes, and fine-tuned by the supervised
trainer. The same net from PyTorch's default random initialisation, trained with the same recipe
in the same run, is the comparison.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from layerwise.checkpoint import load_checkpoint, load_state_checked, save_checkpoint
from layerwise.data.datasets import Dataset, Split
from layerwise.errors import ConfigError
from layerwise.monitor import TensorBoardMonitor
from layerwise.progress import stream
from layerwise.rbm.config import DBN_LAYERS, FINETUNE
from layerwise.rbm.data import Preprocessing, chunked, fit_preprocessing, map_inputs
from layerwise.rbm.loop import run_epochs
from layerwise.rbm.model import RBM, RBMConfig
from layerwise.rbm.train import CDConfig, CDTrainer
from layerwise.runtime import DataLike, RunConfig, as_dataset, check_outputs, setup_device
from layerwise.settings import check_argument, conforms
from layerwise.train.predict import Predictor
from layerwise.train.trainer import TrainConfig, evaluate, test_figures, train
from layerwise.wording import plural


@dataclass
class DBNResult(Predictor):
    """A trained DBN: the fine-tuned classifier, the RBMs it was unrolled from, and the
    figures of the run beside its randomly initialised twin. `predict(X)` and
    `predict_proba(X)` take images as training did (the preprocessing is applied)."""

    network: nn.Sequential  # (B, V) -> logits, initialised from the RBMs and fine-tuned
    rbms: list[RBM]
    random_init: nn.Sequential  # the same net fine-tuned from random initialisation
    layers: tuple[int, ...]
    pretrain_seconds: float
    dbn_accuracy: float | None  # None when the data has no test split
    dbn_finetune_seconds: float
    random_init_accuracy: float | None
    random_init_finetune_seconds: float
    prep: Preprocessing
    classes: tuple[str, ...]
    dataset: str = ""
    device: str = "cpu"
    checkpoint: str | None = None  # where the fine-tuned DBN was saved
    input_shape: tuple[int, ...] = ()  # one example as given, before preprocessing
    task: str = "classification"

    @property
    def model(self) -> nn.Sequential:
        """The classifier with the preprocessing in front: images as given -> logits."""
        return nn.Sequential(_Prep(self.prep), self.network)

    def to_dict(self) -> dict:
        """The figures as `layerwise dbn train --json` prints them."""
        figures = {"layers": list(self.layers), "pretrain_seconds": self.pretrain_seconds,
                   "dbn_accuracy": self.dbn_accuracy,
                   "dbn_finetune_seconds": self.dbn_finetune_seconds,
                   "random_init_accuracy": self.random_init_accuracy,
                   "random_init_finetune_seconds": self.random_init_finetune_seconds}
        if self.checkpoint is not None:
            figures["checkpoint"] = self.checkpoint
        return {**figures, "dataset": self.dataset, "device": self.device}


class _Prep(nn.Module):
    """`Preprocessing` as a module, so that inference applies it as training did."""

    def __init__(self, prep: Preprocessing):
        super().__init__()
        self.prep = prep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prep(x)


def pretrain(x: torch.Tensor, layers: tuple[int, ...], cfg: CDConfig, progress: bool = False
             ) -> list[RBM]:
    """Greedy layer-wise training on x (N, V) in [0, 1]: one binary RBM per entry of `layers`."""
    if not layers or any(h < 1 for h in layers):
        raise ConfigError(f"--layers needs positive sizes, got {layers}.")
    rbms, inputs = [], x
    for depth, n_hidden in enumerate(layers):
        generator = torch.Generator().manual_seed(cfg.seed + depth)
        rbm = RBM(RBMConfig(inputs.shape[1], n_hidden), generator).to(x.device)
        trainer = CDTrainer(rbm, dataclasses.replace(cfg, seed=cfg.seed + depth))
        records = run_epochs(trainer, inputs)
        if progress and records:
            print(f"layer {depth + 1}: rbm {inputs.shape[1]}x{n_hidden}, "
                  f"{plural(len(records), 'epoch')}, recon error {records[-1].recon_error:.5f}",
                  file=stream(), flush=True)
        rbms.append(rbm)
        inputs = chunked(rbm.transform, inputs)
    return rbms


def unroll(rbms: list[RBM], n_classes: int) -> nn.Sequential:
    """The stack as a classifier: (B, V) -> sigmoid layers initialised from the RBMs -> logits."""
    layers: list[nn.Module] = [nn.Flatten()]
    for rbm in rbms:
        linear = nn.Linear(rbm.cfg.n_visible, rbm.cfg.n_hidden)
        with torch.no_grad():
            linear.weight.copy_(rbm.W.T.float())
            linear.bias.copy_(rbm.b_hid.float())
        layers.append(nn.Sequential(linear, nn.Sigmoid()))
    layers.append(nn.Linear(rbms[-1].cfg.n_hidden, n_classes))
    return nn.Sequential(*layers)


def random_like(net: nn.Sequential, seed: int) -> nn.Sequential:
    """A copy of `net` re-initialised as PyTorch initialises a new layer."""
    torch.manual_seed(seed)
    fresh = copy.deepcopy(net)
    for m in fresh.modules():
        if isinstance(m, nn.Linear):
            m.reset_parameters()
    return fresh


def run_dbn(data: Dataset, prep: Preprocessing, layers: tuple[int, ...], cd: CDConfig,
            finetune: TrainConfig, progress: bool = False, checkpoint: str | None = None,
            logdir: str | None = None) -> DBNResult:
    """Pretrain, fine-tune, and fine-tune the randomly initialised twin; both test accuracies.
    `checkpoint` keeps the fine-tuned DBN (`load_dbn` opens it); `logdir` gets TensorBoard
    events of both fine-tunings (LOGDIR/dbn and LOGDIR/random_init)."""
    if data.task != "classification":
        raise ConfigError(f"a DBN classifier needs labelled data; {data.name} has none.")
    input_shape = data.input_shape
    data = _prepared(data, prep)
    start = time.perf_counter()
    rbms = pretrain(data.train.x, layers, cd, progress)
    pretrain_seconds = time.perf_counter() - start
    device = data.train.x.device
    figures = {}
    dbn = unroll(rbms, data.num_classes).to(device)
    twin = random_like(dbn, finetune.seed).to(device)
    for name, net in (("dbn", dbn), ("random_init", twin)):
        torch.manual_seed(finetune.seed)
        monitor = TensorBoardMonitor(Path(logdir) / name, test_figures(data),
                                     data.train.x[:1]) if logdir else None
        try:
            result = train(net, data, finetune, progress=progress, monitor=monitor)
        finally:
            if monitor is not None:
                monitor.close()
        test = evaluate(net, data.test, data.task) if len(data.test) else {"accuracy": None}
        figures[f"{name}_accuracy"] = test["accuracy"]
        figures[f"{name}_finetune_seconds"] = result.train_seconds
    saved = str(save_dbn(checkpoint, dbn, rbms, data.classes, data.name, prep)) \
        if checkpoint else None
    return DBNResult(dbn, rbms, twin, tuple(layers), pretrain_seconds, prep=prep,
                     classes=tuple(data.classes), dataset=data.name, device=str(device),
                     checkpoint=saved, input_shape=input_shape, **figures)


def _prepared(data: Dataset, prep: Preprocessing) -> Dataset:
    """`map_inputs(data, prep)`, also for data without a test split ((X, y) from Python)."""
    if len(data.test):
        return map_inputs(data, prep)
    one = Split(data.train.x[:1], data.train.y[:1])  # preprocessing refuses an empty split
    mapped = map_inputs(dataclasses.replace(data, test=one), prep)
    return dataclasses.replace(mapped, test=Split(mapped.train.x[:0], mapped.train.y[:0]))


def save_dbn(path: str | Path, net: nn.Sequential, rbms: list[RBM], classes, dataset: str,
             prep: Preprocessing) -> Path:
    """The fine-tuned DBN as a checkpoint of kind "dbn": layer sizes, classes, weights."""
    sizes = [rbms[0].cfg.n_visible] + [rbm.cfg.n_hidden for rbm in rbms]
    return save_checkpoint(path, kind="dbn", model_config={"name": "dbn", "sizes": sizes,
                                                           "classes": list(classes)},
                           state=net.state_dict(),
                           extra={"dataset": dataset, "prep": prep.to_dict()})


def load_dbn(path: str | Path) -> nn.Sequential:
    """The classifier `save_dbn` kept (on the CPU, in eval mode)."""
    payload = load_checkpoint(path, kind="dbn")
    sizes, classes = payload["model"]["sizes"], payload["model"]["classes"]
    rbms = [RBM(RBMConfig(v, h)) for v, h in zip(sizes[:-1], sizes[1:], strict=True)]
    net = unroll(rbms, len(classes))
    load_state_checked(net, payload, path)
    return net.eval()


def train_dbn(data: DataLike, layers: tuple[int, ...] = DBN_LAYERS,
              cd: CDConfig | None = None, finetune: TrainConfig = FINETUNE,
              run: RunConfig | None = None, binarize: bool = False,
              checkpoint: str | None = None, progress: bool = True) -> DBNResult:
    """Load `data` (a name, a Dataset, (X, y), a torch Dataset or DataLoader: as `fit` takes
    it, read into memory), pretrain a DBN of binary RBMs on it, fine-tune it and its randomly
    initialised twin; returns the trained networks, the RBMs, both test accuracies and the
    times (`.to_dict()` gives what `layerwise dbn train` prints)."""
    if not conforms(layers, tuple[int, ...]):
        check_argument(layers, "layers", (), "a tuple of hidden-layer sizes, e.g. (500, 500)")
    for name, value, kind in (("cd", cd, CDConfig), ("finetune", finetune, TrainConfig),
                              ("run", run, RunConfig)):
        check_argument(value, name, (kind, type(None)) if name != "finetune" else kind)
    cd, run = cd or CDConfig(), run or RunConfig()
    check_outputs(checkpoint, logdir=run.logdir)
    device = setup_device(run)
    data = as_dataset(data, run, cd.seed, device, progress, task="classification")
    prep = fit_preprocessing(data.train.x, "binary", binarize)
    return run_dbn(data, prep, tuple(layers), cd, finetune, progress, checkpoint, run.logdir)
