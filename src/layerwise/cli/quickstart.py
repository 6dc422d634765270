"""`layerwise quickstart`: the main job, offline, on the embedded digits."""

from __future__ import annotations

import argparse

import torch

from layerwise.cli.common import add_json, emit
from layerwise.data.datasets import load_dataset
from layerwise.device import describe, resolve_device
from layerwise.nn.models import ModelConfig, build_model
from layerwise.train.trainer import TrainConfig, evaluate, train

DATASET = "mnist-10k"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart", help="train on the embedded MNIST digits and report test accuracy",
        description="Train the course's softmax regression (Lab 6) on mnist-10k, the 10,000 "
                    "real MNIST digits shipped with layerwise, and print test accuracy and time.")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--seed", type=int, default=0)
    add_json(p)
    p.set_defaults(func=run)


def run(args) -> int:
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    data = load_dataset(DATASET, seed=args.seed, device=device)
    # The course's Lab 6 recipe: gradient descent, learning rate 0.5, 1000 steps of 100.
    cfg = TrainConfig(optimizer="sgd", lr=0.5, batch_size=100, steps=1000, seed=args.seed)
    model = build_model(ModelConfig("softmax", data.input_shape, data.num_classes)).to(device)
    result = train(model, data, cfg, progress=not args.json)
    test = evaluate(model, data.test, data.task)
    lines = [
        f"dataset  {DATASET}: {len(data.train)} train / {len(data.val)} validation / "
        f"{len(data.test)} test",
        f"device   {describe(device)}",
        f"softmax  test accuracy {test['accuracy']:.4f}  loss {test['loss']:.4f}  "
        f"{result.steps} steps in {result.train_seconds:.2f} s",
    ]
    figures = {"dataset": DATASET, "device": str(device),
               "models": {"softmax": {"test_accuracy": test["accuracy"],
                                      "test_loss": test["loss"], "steps": result.steps,
                                      "train_seconds": result.train_seconds}}}
    emit(lines, figures, args.json)
    return 0
