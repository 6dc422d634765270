"""A supervised run's model, built or restored for its data, and the checks made before any
training step: the model takes the data's inputs and gives outputs that fit its targets, an
--init checkpoint is of the architecture asked for, --shift leaves something of the images,
and the run fits in memory (measured on a probe batch of two examples)."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from layerwise.checkpoint import build_stored, load_state_checked, stored_config
from layerwise.data.datasets import Dataset
from layerwise.errors import ConfigError, DataValueError
from layerwise.memory import check_fits
from layerwise.nn import cifar
from layerwise.nn.models import ModelConfig, build_model
from layerwise.settings import invalid
from layerwise.train.config import TrainConfig
from layerwise.train.saving import CUSTOM, custom_record

ModelLike = str | ModelConfig | nn.Module
CONVOLUTIONAL = ("deepnn", *cifar.SPECS)  # course models that take images (C, H, W)


def _check_training_fits(net: nn.Module, data: Dataset, cfg: TrainConfig, name: str,
                         per_example: list[float]) -> None:
    """Refuse a run whose memory the budget cannot hold, before training: the parameters with
    their gradients and two optimiser moments (4 copies), every tensor one training batch
    keeps for the backward pass and its gradient (2 each), and an evaluation batch of 2,000
    (the largest of them, in and out, at a time); `per_example` is the bytes of each kept
    tensor per example, measured on the probe."""
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    batch = cfg.batch_for(len(data.train))
    train_bytes = 2 * batch * sum(per_example)
    eval_bytes = 2 * min(2000, max(len(data.train), len(data.test))) * max(per_example,
                                                                           default=0)
    check_fits(int(4 * params + max(train_bytes, eval_bytes)),
               f"training {name} on {data.name} with batches of {batch:,}")


def check_shift(cfg: TrainConfig, data: Dataset) -> None:
    """A translation by the image's side or more leaves nothing of it (and its padded copy
    of every batch grows with the square of the shift): refused naming both."""
    shape = data.input_shape
    if cfg.shift and len(shape) == 3 and cfg.shift >= min(shape[1:]):
        raise invalid(cfg, "shift", f"must be smaller than the images' side ({data.name}'s "
                                    f"are {shape[1]} x {shape[2]}), got {cfg.shift}.")


def check_init(model: ModelLike, data: Dataset, payload: dict, init: str) -> None:
    """`init`'s weights must be of the architecture asked for (dropout aside, which holds no
    weights): a checkpoint of another model would otherwise replace it silently."""
    if isinstance(model, nn.Module) or payload["model"].get("name") == CUSTOM["name"]:
        return
    stored = stored_config(ModelConfig, payload["model"], init, "model").to_dict()
    wanted = (ModelConfig(model) if isinstance(model, str) else model).sized_for(data).to_dict()
    differ = [k for k in wanted if k != "dropout" and wanted[k] != stored.get(k)]
    if differ:
        show = "; ".join(f"{k} {stored.get(k)} there, {wanted[k]} here" for k in differ)
        raise ConfigError(f"--init {init} holds weights of a {stored['name']} model of another "
                          f"architecture than the {wanted['name']} asked for ({show}); give "
                          "the model and flags it was trained with, or drop --init.")


def model_for(model: ModelLike, data: Dataset, payload: dict | None, source: str | None
           ) -> tuple[nn.Module, ModelConfig | None]:
    """The network to train and its config: built from a name or config sized to `data`, or
    the module given; with a checkpoint, its architecture and weights."""
    if payload is not None and payload["model"].get("name") != CUSTOM["name"]:
        mcfg = stored_config(ModelConfig, payload["model"], source, "model")
        net = build_stored(build_model, mcfg, source)
    elif isinstance(model, nn.Module):
        mcfg, net = None, model
        held = (payload or {}).get("model", {}).get("class")
        if held and held != custom_record(net)["class"]:
            raise ConfigError(f"{source} holds a {held} module, not a "
                              f"{custom_record(net)['class']}; pass an instance of the module "
                              "it was trained with.")
    elif payload is not None:
        raise ConfigError(f"{source} holds a model built outside layerwise; pass that module "
                          "to fit() to continue it.")
    else:
        mcfg = (ModelConfig(model) if isinstance(model, str) else model).sized_for(data)
        _check_course_input(mcfg, data)
        net = build_model(mcfg)
    if mcfg is not None and mcfg.input_shape != data.input_shape:
        raise ConfigError(f"the model takes inputs of shape {mcfg.input_shape} but "
                          f"{data.name} has {data.input_shape}.")
    if payload is not None:
        load_state_checked(net, payload, source)
    return net, mcfg


def _check_course_input(mcfg: ModelConfig, data: Dataset) -> None:
    """A convolutional course model needs images, a classifier needs classes and polynomial
    real-valued targets of one input: said in one sentence, naming both, before the model is
    built."""
    shape = data.input_shape
    if mcfg.name == "polynomial" and (data.task != "regression" or shape != (1,)):
        held = "class labels" if data.task == "classification" else \
            f"examples of shape {shape}"
        raise DataValueError(f"polynomial fits a real-valued target of one real input (N, 1), "
                             f"but {data.name} holds {held}; give it such data (e.g. the "
                             "regression dataset) or train a classifier on this one.")
    if mcfg.name != "polynomial" and data.task == "regression":
        raise DataValueError(f"{mcfg.name} is a classifier, but {data.name} holds real-valued "
                             "targets (regression); train polynomial on it, or a module of "
                             "your own with fit(module, data).")
    if mcfg.name in CONVOLUTIONAL and len(shape) != 3:
        side = math.isqrt(math.prod(shape))
        example = f", e.g. X.reshape(-1, 1, {side}, {side})" if side * side == math.prod(
            shape) else ""
        raise DataValueError(f"{mcfg.name} takes images (N, C, H, W) or (N, H, W), but the "
                             f"data's examples have shape {shape}: reshape X{example}.")
    if data.task == "classification" and not mcfg.num_outputs:
        raise DataValueError(f"the number of classes of {data.name} is not known without "
                             "reading it whole; give ModelConfig(num_outputs=K) or targets "
                             "the dataset keeps apart (a `targets` attribute).")


@torch.no_grad()
def probe(net: nn.Module, data: Dataset, cfg: TrainConfig, name: str) -> Dataset:
    """One forward pass of two examples in eval mode (no randomness drawn, no state changed):
    a model that cannot take the data's inputs, or whose outputs do not fit its targets, or
    whose training would not fit in memory, is one sentence before training. A streamed
    dataset whose classes are unknown takes them from the module's outputs."""
    x, y = data.train.x[:2], data.train.y[:2]
    was_training = net.training
    net.eval()
    # Bytes of every tensor the forward pass keeps for the backward pass, but the weights
    # and buffers (not per example): what one training batch holds, per example of len(x).
    fixed = {t.data_ptr() for t in (*net.parameters(), *net.buffers())}
    sizes: list[int] = []

    def keep(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in fixed:
            sizes.append(t.numel() * t.element_size())
        return t

    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
            out = net(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else repr(exc)
        raise DataValueError(f"the model cannot take the data's examples of shape "
                             f"{data.input_shape} ({first}); give inputs of the shape it "
                             "expects.") from None
    finally:
        net.train(was_training)
    out = out.detach()
    _check_training_fits(net, data, cfg, name, [b / len(x) for b in sizes])
    if data.task == "classification":
        if out.dim() != 2:
            raise DataValueError(f"a classifier must give logits (N, classes); the model gives "
                                 f"outputs of shape {tuple(out.shape)}.")
        if not data.classes:
            data = dataclasses.replace(data, classes=tuple(map(str, range(out.shape[1]))))
        if out.shape[1] < data.num_classes:
            raise DataValueError(f"the model gives {out.shape[1]} outputs but y has labels up "
                                 f"to {data.num_classes - 1}; it needs one output per class.")
    elif data.task == "regression" and tuple(out.shape[1:]) != tuple(y.shape[1:]):
        raise DataValueError(f"the model gives outputs of shape {tuple(out.shape[1:])} per "
                             f"example but the targets y have {tuple(y.shape[1:])}.")
    return data
