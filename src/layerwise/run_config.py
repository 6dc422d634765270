"""`RunConfig`: where a run reads its data, computes and writes (torch-free, so the parser can
read it; `layerwise.runtime` applies it).

It holds the settings that are not part of a recipe (so they are not stored in checkpoints):
data location, validation hold-out, device, threads, GPU memory cap, the distributed timeout,
the TensorBoard directory and the checkpoint to resume from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from layerwise.names import DEFAULT_TIMEOUT, MAX_TIMEOUT, MIN_TIMEOUT
from layerwise.settings import check_types, invalid, setting


@dataclass(frozen=True)
class RunConfig:
    """Where and how a run reads, computes and writes."""

    data_dir: str | os.PathLike | None = setting(
        None, metavar="DIR", help="look here first for dataset files (and download here)")
    offline: bool = setting(False, help="never download; fail with a message if the files are "
                                        "not found")
    val_size: int | None = setting(None, help="validation examples held out of training")
    device: str = setting("auto", help="auto, cpu, cuda or cuda:N")
    threads: int | None = setting(None, help="CPU threads for PyTorch")
    gpu_memory_fraction: float | None = setting(
        None, metavar="F", help="cap this process's share of the GPU's memory (0 < F <= 1)")
    timeout: float = setting(DEFAULT_TIMEOUT, metavar="SECONDS",
                             help="under torchrun: how long a rank waits for the others before "
                                  "it stops with an error")
    logdir: str | os.PathLike | None = setting(None, metavar="DIR",
                                               help="TensorBoard run directory")
    resume: str | os.PathLike | None = setting(None, metavar="PATH",
                                               help="continue the run saved in this checkpoint")

    def __post_init__(self):
        if type(self.device).__name__ == "device":  # a torch.device names itself as a string
            object.__setattr__(self, "device", str(self.device))
        check_types(self)
        if self.gpu_memory_fraction is not None and not 0 < self.gpu_memory_fraction <= 1:
            raise invalid(self, "gpu_memory_fraction", f"must be in (0, 1], got "
                                                       f"{self.gpu_memory_fraction}.")
        if self.threads is not None and self.threads < 1:
            raise invalid(self, "threads", f"must be at least 1, got {self.threads}.")
        if self.val_size is not None and self.val_size < 0:
            raise invalid(self, "val_size", f"must be 0 or more, got {self.val_size}.")
        if not (math.isfinite(self.timeout) and MIN_TIMEOUT <= self.timeout <= MAX_TIMEOUT):
            raise invalid(self, "timeout", f"must be from {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} "
                                           f"seconds, got {self.timeout:g}.")
