"""The RBM's configs: its architecture (`RBMConfig`), how CD trains it (`CDConfig`) and how it
is split over ranks (`ParallelConfig`). Torch-free, so the parser can read them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from layerwise.names import MATMUL_PRECISIONS, PARALLEL_ALGORITHMS, RBM_DTYPES
from layerwise.settings import check_types, default_of, invalid, setting
from layerwise.train.config import TrainConfig

BINARY_LR, GAUSSIAN_LR = 0.05, 1e-3  # CD learning rates by visible unit type
VISIBLE_UNITS = ("binary", "gaussian")
DBN_LAYERS = (500, 500, 2000)  # a DBN's hidden sizes, bottom up (Hinton et al. 2006)
# A DBN's fine-tuning: Adam at 1e-3, 5 epochs of 100 (the batch follows the CD batch in
# `train_dbn`).
FINETUNE = TrainConfig(optimizer="adam", lr=1e-3, batch_size=100, epochs=5)


@dataclass(frozen=True)
class RBMConfig:
    """The architecture of an RBM: stored in every checkpoint."""

    n_visible: int | None = setting(None, label="the number of visible units",
                                    help="visible units (None: one per input value of the "
                                         "training data)")
    n_hidden: int = setting(500, flag="--hidden", help="hidden units")
    visible: str = setting("binary", choices=VISIBLE_UNITS,
                           help="visible units: binary (data in [0, 1]) or gaussian "
                                "(standardised)")
    learn_sigma: bool = setting(False, help="Gaussian units: learn each unit's sigma "
                                            "(log-parametrised, clamped)")
    sigma_bounds: tuple[float, float] = setting((0.1, 10.0), help="the clamp of a learned sigma")
    dtype: str = setting("float32", choices=RBM_DTYPES,
                         help="storage dtype of weights and states")
    init_std: float = setting(0.01, help="standard deviation of the initial weights")

    def __post_init__(self):
        check_types(self)
        for name in ("n_visible", "n_hidden"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise invalid(self, name, f"must be at least 1, got {value}.")
        if self.visible not in VISIBLE_UNITS:
            raise invalid(self, "visible", f"must be binary or gaussian, got {self.visible!r}.")
        if self.learn_sigma and self.visible != "gaussian":
            raise invalid(self, "learn_sigma", "needs Gaussian visible units: only they have a "
                                               "sigma to learn.")
        lo, hi = self.sigma_bounds
        if not 0 < lo <= 1 <= hi:
            raise invalid(self, "sigma_bounds", f"must satisfy 0 < low <= 1 <= high, got {lo}, "
                                                f"{hi}.")
        if self.dtype not in RBM_DTYPES:
            raise invalid(self, "dtype", f"must be one of {', '.join(RBM_DTYPES)}, got "
                                         f"{self.dtype!r}.")

    @property
    def torch_dtype(self):
        from layerwise.rbm.model import DTYPES

        return DTYPES[self.dtype]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RBMConfig:
        d = dict(d)
        d["sigma_bounds"] = tuple(d.get("sigma_bounds", default_of(cls, "sigma_bounds")))
        return cls(**d)


@dataclass(frozen=True)
class CDConfig:
    """How to train an RBM. `epochs` is the run's total (a resumed run stops there)."""

    cd_k: int = setting(1, help="Gibbs steps per update")
    persistent: bool = setting(False, flag="--pcd", help="persistent contrastive divergence")
    epochs: int = setting(10, help="total epochs of the run")
    batch_size: int = setting(100, help="examples per update")
    lr: float | None = setting(None, help=f"learning rate (default {BINARY_LR:g} for binary "
                                          f"visible units, {GAUSSIAN_LR:g} for Gaussian ones)")
    momentum: float = setting(0.5, help="momentum of the CD updates")
    weight_decay: float = setting(1e-4, flag="--l2", metavar="L2",
                                  help="L2 weight penalty (weight decay): each update adds "
                                       "-lr * l2 * W")
    sample_visible: bool = setting(False, help="sample visible states in the chain (default: "
                                               "mean-field, the guide's section 3.2)")
    sigma_lr_scale: float = setting(0.01, help="Gaussian units: sigma's learning rate as a "
                                               "fraction of lr")
    matmul: str = setting("full", choices=MATMUL_PRECISIONS,
                          help="precision of the matrix products: full (the storage dtype), tf32 "
                               "(CUDA tensor cores) or bf16 (bfloat16 operands, float32 sums); "
                               "weights and updates stay float32")
    seed: int = setting(0, help="seeds every random number the command draws")

    def __post_init__(self):
        check_types(self)
        if self.cd_k < 1:
            raise invalid(self, "cd_k", f"must be at least 1, got {self.cd_k}.")
        if self.epochs < 0:
            raise invalid(self, "epochs", f"must be >= 0, got {self.epochs}.")
        if self.batch_size < 1:
            raise invalid(self, "batch_size", f"must be at least 1, got {self.batch_size}.")
        if self.lr is not None and not self.lr > 0:
            raise invalid(self, "lr", f"must be positive, got {self.lr}.")
        if not 0 <= self.momentum < 1:
            raise invalid(self, "momentum", f"must be in [0, 1), got {self.momentum}.")
        if not self.weight_decay >= 0:
            raise invalid(self, "weight_decay", f"must be non-negative, got "
                                                f"{self.weight_decay}.")
        if self.matmul not in MATMUL_PRECISIONS:
            raise invalid(self, "matmul", f"must be one of {', '.join(MATMUL_PRECISIONS)}, got "
                                          f"{self.matmul!r}.")

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved(self, gaussian: bool) -> CDConfig:
        """This config with the learning rate's default for the visible units filled in:
        Gaussian units diverge at rates binary units tolerate."""
        if self.lr is not None:
            return self
        return replace(self, lr=GAUSSIAN_LR if gaussian else BINARY_LR)


@dataclass(frozen=True)
class ParallelConfig:
    """How the RBM is split. `sync_every`: batches between weight synchronisations (model
    algorithm; the report used every 8,000 images, i.e. 80 batches of 100); 0 never syncs."""

    algorithm: str = setting("model", flag="--parallel", choices=PARALLEL_ALGORITHMS,
                             help="split the RBM over the ranks: model (the report's "
                                  "algorithm), data (batch slices, all-reduced updates) or "
                                  "visible (for H < V/2)")
    sync_every: int = setting(80, metavar="N", help="model: batches between weight "
                                                    "synchronisations (0 never)")
    rng_blocks: int = setting(48, metavar="G", help="units per layer are drawn in G blocks with "
                                                    "their own generators, so samples do not "
                                                    "depend on the number of ranks")

    def __post_init__(self):
        check_types(self)
        if self.algorithm not in PARALLEL_ALGORITHMS:
            raise invalid(self, "algorithm", f"must be one of {', '.join(PARALLEL_ALGORITHMS)}, "
                                             f"got {self.algorithm!r}.")
        if self.sync_every < 0:
            raise invalid(self, "sync_every", f"must be >= 0, got {self.sync_every}.")
        if self.rng_blocks < 1:
            raise invalid(self, "rng_blocks", f"must be >= 1, got {self.rng_blocks}.")

    def to_dict(self) -> dict:
        return asdict(self)
