"""`LabOptions`: what `layerwise lab N` may change in a lab's recipe (torch-free, so the parser
can read it; the labs are in layerwise.labs)."""

from __future__ import annotations

from dataclasses import dataclass

from layerwise.run_config import RunConfig
from layerwise.settings import check_types, default_of, invalid, setting

# Each training lab's length when --steps is not given: the course's own for labs 4-7; the
# course gives none for Lab 9, whose three short trainings are ours.
DEFAULT_STEPS = {4: 1000, 5: 1000, 6: 1000, 7: 20000, 9: 300}
COURSE_STEPS = {n: DEFAULT_STEPS[n] for n in (4, 5, 6, 7)}
PLOTTED = (4, 6, 7, 9)  # the labs whose figures --plots draws


def _steps_help() -> str:
    each = ", ".join(f"lab {n}: {s:,}" for n, s in DEFAULT_STEPS.items())
    return f"override the lab's step count (default: the course's recipe: {each}; lab 9's " \
           "is ours, the course gives none)"


@dataclass(frozen=True)
class LabOptions:
    dataset: str | None = setting(None, help="dataset for labs 6, 7 and 9 (default mnist-10k)")
    steps: int | None = setting(None, help=_steps_help())
    device: str = setting(default_of(RunConfig, "device"), help="auto, cpu, cuda or cuda:N")
    logdir: str | None = setting(None, help="TensorBoard run directory (labs 5-7)")
    seed: int = setting(0, help="seeds every random number the command draws")
    progress: bool = setting(True, help="report progress while the lab runs")
    seeds: int = setting(1, metavar="N", help="labs 6 and 7: run the recipe from N consecutive "
                                              "seeds, starting at --seed, and report the mean "
                                              "and standard deviation")
    plots: str | None = setting(None, metavar="DIR", help="write the lab's figures as PNG "
                                                          "files in DIR (labs 4, 6, 7 and 9)")

    def __post_init__(self):
        check_types(self)
        if self.seeds < 1:
            raise invalid(self, "seeds", f"must be at least 1, got {self.seeds}.")
        if self.steps is not None and self.steps < 1:
            raise invalid(self, "steps", f"must be at least 1, got {self.steps}.")

    def steps_for(self, number: int) -> int:
        """The steps lab `number` runs: --steps, else its default (DEFAULT_STEPS)."""
        return self.steps or DEFAULT_STEPS[number]
