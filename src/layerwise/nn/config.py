"""`ModelConfig`: what it takes to rebuild a supervised model (torch-free, so the parser can
read it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from layerwise.names import ACTIVATIONS, MODELS, POOLS
from layerwise.settings import check_types, invalid, setting

# Models whose description includes dropout: the course's deepnn (0.5 before its last layer)
# and the report's net3 (0.5 after its dense layers, half that after its pooling layers).
DEFAULT_DROPOUT = {"deepnn": 0.5, "net3": 0.5}


@dataclass(frozen=True)
class ModelConfig:
    """What it takes to rebuild a model: stored in every checkpoint.

    `input_shape` and `num_outputs` may be left None and taken from a dataset with
    `sized_for`; `dropout` None means the model's own (DEFAULT_DROPOUT, else none)."""

    name: str = setting(choices=tuple(sorted(MODELS)), label="the model", metavar="model",
                        help="model to train")
    input_shape: tuple[int, ...] | None = setting(None, help="the shape of one example "
                                                            "(None: the data's)")
    num_outputs: int | None = setting(None, help="classes or regression targets (None: the "
                                                 "data's)")
    hidden: tuple[int, ...] = setting((128,), help="mlp: hidden sizes, e.g. 256,128")
    activation: str = setting("relu", choices=tuple(sorted(ACTIVATIONS)),
                              help="mlp: the hidden layers' activation")
    dropout: float | None = setting(None, help="dropout probability (deepnn: 0.5 as in the "
                                               "course; net3: 0.5 after its dense layers, half "
                                               "that after its pooling layers)")
    degree: int = setting(1, help="polynomial degree")
    pool: str = setting("max", choices=POOLS, help="deepnn: pooling")
    init: tuple[float, ...] = setting(default_factory=tuple,
                                      help="polynomial: the coefficients a_0..a_n to start from")

    def __post_init__(self):
        check_types(self)
        if self.name not in MODELS:
            raise invalid(self, "name", f"must be one of {', '.join(MODELS)}, got "
                                        f"{self.name!r}.")
        if self.dropout is None:
            object.__setattr__(self, "dropout", DEFAULT_DROPOUT.get(self.name, 0.0))
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "init", tuple(self.init))
        if any(h < 1 for h in self.hidden):
            raise invalid(self, "hidden", f"sizes must be at least 1, got {self.hidden}.")
        if not 0.0 <= self.dropout < 1.0:
            raise invalid(self, "dropout", f"must be in [0, 1), got {self.dropout}.")
        if self.activation not in ACTIVATIONS:
            raise invalid(self, "activation", f"must be one of {', '.join(ACTIVATIONS)}, got "
                                              f"{self.activation!r}.")
        if self.pool not in POOLS:
            raise invalid(self, "pool", f"must be one of {', '.join(POOLS)}, got "
                                        f"{self.pool!r}.")
        if self.degree < 0:
            raise invalid(self, "degree", f"must be >= 0, got {self.degree}.")

    def sized_for(self, data) -> ModelConfig:
        """This config with the input shape and number of outputs of `data` (a Dataset) filled
        in where they are None."""
        outputs = data.num_classes if data.task == "classification" else data.train.y.shape[1]
        return replace(self, input_shape=self.input_shape or data.input_shape,
                       num_outputs=self.num_outputs or outputs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("input_shape", "hidden", "init"):
            d[key] = tuple(d.get(key, ()))
        return cls(**d)
