"""Training steps replayed from CUDA graphs (`layerwise train --cuda-graphs`).

The course's Lab 7 takes 20,000 steps of 50 images: on a GPU each step's forty-odd kernels are
so small that launching them costs more than running them. Here one whole step (the batch
gather from the device-resident data, forward, loss, backward, optimizer update and the running
loss sum) is captured once per batch size into a CUDA graph, and each step is one replay after
copying the step's indices into the graph's index buffer. Evaluation, checkpoints and early
stopping stay eager, between replays.

What capture relies on:
- gradients set to None before capture, so the captured backward writes them rather than adding
  to them, and the replayed optimizer reads the same addresses;
- an optimizer whose state exists before capture and whose step count lives on the device
  (Adam with `capturable=True`); state created lazily inside the graph would be reset by
  every replay;
- dropout and augmentation drawing from the default CUDA generator, which torch registers with
  every graph, so a replay advances it exactly as an eager step would.
Warm-up steps before each capture run on a snapshot of the weights, the optimizer state and the
generator that is put back afterwards, so capturing changes no state: with `capture=False` the
same path runs eagerly, which is how a CPU checks it against the ordinary loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from layerwise.device import capture_graph
from layerwise.errors import ConfigError

WARM_UP_STEPS = 3


class GraphedStep:
    """`run(idx)` performs one training step on the examples `idx` and returns its loss.

    `batch_loss(idx)` computes the loss of the examples idx (gather, forward, loss) from
    tensors that already live on the device; it is what the graph records, with backward and
    `optimizer.step()` after it.
    """

    def __init__(self, batch_loss: Callable[[torch.Tensor], torch.Tensor], model: nn.Module,
                 optimizer: torch.optim.Optimizer, device: torch.device, capture: bool = True):
        if capture and device.type != "cuda":
            raise ConfigError(f"--cuda-graphs needs a CUDA device; this run is on {device}.")
        self.batch_loss, self.model, self.optimizer = batch_loss, model, optimizer
        self.device, self.capture = device, capture
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph | None, torch.Tensor, torch.Tensor]] = {}
        if capture:
            for group in optimizer.param_groups:
                if "capturable" in group:
                    group["capturable"] = True  # the step count stays on the device

    def run(self, idx: torch.Tensor) -> torch.Tensor:
        B = len(idx)
        if B not in self.graphs:
            self.graphs[B] = self._record(B)
        graph, static_idx, loss = self.graphs[B]
        static_idx.copy_(idx)
        if graph is not None:
            graph.replay()
            return loss
        self.optimizer.zero_grad(set_to_none=True)
        return self._body(static_idx)

    def _body(self, idx: torch.Tensor) -> torch.Tensor:
        loss = self.batch_loss(idx)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _record(self, B: int):
        idx = torch.zeros(B, dtype=torch.long, device=self.device)
        if not self.capture:
            self.warm_up(idx)
            return None, idx, None
        # warm_up ends with the gradients set to None, so the captured backward writes them
        graph, loss = capture_graph(self.device, lambda: self.warm_up(idx),
                                    lambda: self._body(idx))
        return graph, idx, loss

    def warm_up(self, idx: torch.Tensor) -> None:
        """Run WARM_UP_STEPS steps on idx (creating the optimizer's state), then put back the
        weights, the optimizer state (state that did not exist before is zeroed: a fresh
        state) and the default generator of the device, and set the gradients to None."""
        weights = {k: v.clone() for k, v in self.model.state_dict().items()}
        had_state = {p: {k: v.clone() for k, v in s.items() if torch.is_tensor(v)}
                     for p, s in self.optimizer.state.items()}
        rng = _rng_state(self.device)
        for _ in range(WARM_UP_STEPS):
            self.optimizer.zero_grad(set_to_none=True)
            self._body(idx)
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(weights[k])
            for p, state in self.optimizer.state.items():
                for k, v in state.items():
                    if torch.is_tensor(v) and p in had_state:
                        v.copy_(had_state[p][k])
                    elif torch.is_tensor(v):
                        v.zero_()
        _set_rng_state(self.device, rng)
        self.optimizer.zero_grad(set_to_none=True)


def _rng_state(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)
