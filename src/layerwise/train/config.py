"""`TrainConfig`: how a supervised model is trained (torch-free, so the parser can read it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from layerwise.errors import ConfigError
from layerwise.names import OPTIMIZERS, TRAIN_PRECISIONS
from layerwise.settings import check_types, invalid, setting


@dataclass(frozen=True)
class TrainConfig:
    """How to train. `steps` or `epochs` is the total for the run (a resumed run stops there)."""

    optimizer: str = setting("adam", choices=OPTIMIZERS,
                             help="gd: full batch (eq. 4), sgd: mini-batch, momentum: eq. 5, adam")
    lr: float = setting(1e-3, help="learning rate")
    momentum: float = setting(0.9, help="nu of the course's eq. 5")
    l2: float = setting(0.0, help="L2 weight penalty: mu of the course's eq. 6 "
                                  "(loss + mu sum a^2)")
    batch_size: int = setting(50, help="examples per step (the global batch under torchrun; "
                                       "gd: all)")
    steps: int | None = setting(None, help="total optimizer steps of the run")
    epochs: int | None = setting(None, help="total epochs of the run (default: one epoch when "
                                            "--steps is not given either)")
    seed: int = setting(0, help="seeds every random number the command draws")
    eval_every: int = setting(0, help="steps between evaluations (default: once an epoch)")
    patience: int = setting(0, help="early stopping after this many evaluations without "
                                    "improvement (0: never)")
    eval_batch_size: int = setting(2000, help="examples per evaluation batch")
    shift: int = setting(0, metavar="PIXELS", help="augment: translate each training image by "
                                                   "up to PIXELS in x and y")
    cuda_graphs: bool = setting(False, help="CUDA, one process: replay each training step "
                                            "from a captured graph")
    precision: str = setting("float32", choices=TRAIN_PRECISIONS,
                             help="bf16: the forward pass under bfloat16 autocast, weights and "
                                  "optimiser in float32 (where the device multiplies bfloat16 "
                                  "natively)")

    def __post_init__(self):
        check_types(self)
        if self.optimizer not in OPTIMIZERS:
            raise invalid(self, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got "
                                             f"{self.optimizer!r}.")
        if self.precision not in TRAIN_PRECISIONS:
            raise invalid(self, "precision", f"must be one of {', '.join(TRAIN_PRECISIONS)}, "
                                             f"got {self.precision!r}.")
        if self.steps is not None and self.epochs is not None:
            raise ConfigError("give TrainConfig.steps or TrainConfig.epochs, not both.",
                              field="TrainConfig.steps")
        for name in ("steps", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise invalid(self, name, f"must be non-negative, got {getattr(self, name)}.")
        if self.batch_size < 1 and self.optimizer != "gd":
            raise invalid(self, "batch_size", f"must be at least 1, got {self.batch_size}.")
        if self.eval_batch_size < 1:
            raise invalid(self, "eval_batch_size", f"must be at least 1, got "
                                                   f"{self.eval_batch_size}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise invalid(self, "lr", f"must be a positive number, got {self.lr}.")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise invalid(self, "l2", f"must be a non-negative number, got {self.l2}.")
        if not 0 <= self.momentum < 1:
            raise invalid(self, "momentum", f"must be in [0, 1), got {self.momentum}.")
        for name in ("patience", "eval_every"):
            if getattr(self, name) < 0:
                raise invalid(self, name, f"must be 0 or more, got {getattr(self, name)}.")
        if self.shift < 0:
            raise invalid(self, "shift", f"must be a non-negative number of pixels, got "
                                         f"{self.shift}.")

    def batch_for(self, n_train: int) -> int:
        """Full-batch gradient descent uses the whole training set every step."""
        return n_train if self.optimizer == "gd" else min(self.batch_size, n_train)

    def total_steps(self, n_train: int) -> int:
        if self.steps is not None:
            return self.steps
        per_epoch = math.ceil(n_train / self.batch_for(n_train))
        return per_epoch * (self.epochs if self.epochs is not None else 1)
