"""Training across processes, GPUs and machines on torch.distributed (launched by torchrun)."""

from layerwise.distributed.context import (
    DEFAULT_TIMEOUT,
    Dist,
    DistributedError,
    env_rank,
    env_world_size,
    join,
)

__all__ = ["DEFAULT_TIMEOUT", "Dist", "DistributedError", "env_rank", "env_world_size", "join"]
