"""`LabOptions`: what `layerwise lab N` may change in a lab's recipe (torch-free, so the parser
can read it; the labs are in layerwise.labs)."""

from __future__ import annotations

from dataclasses import dataclass

from layerwise.run_config import RunConfig
from layerwise.settings import check_types, default_of, invalid, setting


@dataclass(frozen=True)
class LabOptions:
    dataset: str | None = setting(None, help="dataset for labs 6, 7 and 9 (default mnist-10k)")
    steps: int | None = setting(None, help="override the lab's step count")
    device: str = setting(default_of(RunConfig, "device"), help="auto, cpu, cuda or cuda:N")
    logdir: str | None = setting(None, help="TensorBoard run directory (labs 5-7)")
    seed: int = setting(0, help="seeds every random number the command draws")
    progress: bool = setting(True, help="report progress while the lab runs")
    seeds: int = setting(1, metavar="N", help="labs 6 and 7: run the recipe from N consecutive "
                                              "seeds, starting at --seed, and report the mean "
                                              "and standard deviation")

    def __post_init__(self):
        check_types(self)
        if self.seeds < 1:
            raise invalid(self, "seeds", f"must be at least 1, got {self.seeds}.")
