"""Choosing where to compute: `auto`, `cpu`, `cuda` or `cuda:N`, with clear errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

from layerwise.errors import ConfigError

T = TypeVar("T")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch.device for a --device value; `auto` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device; use auto, cpu, cuda "
                          "or cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is available on this machine; "
                              "use --device cpu.")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s).")
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise ConfigError(f"--device {name}: only cpu and cuda devices are supported.")
    return device


def check_fits(nbytes: int, what: str) -> None:
    """Refuse, in one sentence, to allocate more than the memory budget (`layerwise.memory`:
    the smallest of available memory, the cgroup limit and `ulimit -v`)."""
    from layerwise.memory import check_fits as within_budget

    within_budget(nbytes, what)


# Below this many multiply-adds per matrix product, a second intra-op thread costs more (waking
# it, splitting tiny blocks) than it gives: scikit-learn's defaults (batch 10, 64 x 256) are
# ~160,000 and ran 1.3x faster on one thread here, and far steadier while other jobs ran.
SMALL_PRODUCT = 1_000_000


@contextmanager
def threads_for(multiply_adds: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block on one CPU thread when its products are small (`multiply_adds` each,
    e.g. B * V * H), putting the thread count back afterwards; larger problems and GPUs keep
    PyTorch's setting."""
    if torch.device(device).type != "cpu" or multiply_adds >= SMALL_PRODUCT:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 in hardware: a CUDA GPU that supports it, or a CPU
    with AVX-512 BF16 or AMX. Elsewhere bfloat16 products are emulated, several times slower
    than float32 ones."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def cpu_instruction_sets() -> dict[str, bool]:
    """The CPU features that decide GEMM and bfloat16 speed, as torch detects them."""
    cpu = torch.cpu
    return {"avx2": cpu._is_avx2_supported(), "avx512": cpu._is_avx512_supported(),
            "avx512_bf16": cpu._is_avx512_bf16_supported(), "amx": cpu._is_amx_tile_supported(),
            "capability": torch.backends.cpu.get_cpu_capability()}


def describe(device: torch.device) -> str:
    """Human name of the device: the GPU model, or the CPU with its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


@contextmanager
def _fp32_precision(backend, precision: str, enabled: bool) -> Iterator[None]:
    """Inside, `backend`'s float32 matmuls run at `precision` (when `enabled`); restored on exit."""
    if not enabled:
        yield
        return
    previous = backend.fp32_precision
    backend.fp32_precision = precision
    try:
        yield
    finally:
        backend.fp32_precision = previous


def tf32_products(enabled: bool):
    """Inside, CUDA float32 matrix products may use TensorFloat-32 (when `enabled`)."""
    return _fp32_precision(torch.backends.cuda.matmul, "tf32", enabled)


def bf16_products_on_cpu(enabled: bool):
    """Inside, CPU float32 matrix products take bfloat16 operands, multiply them in hardware
    (AMX or AVX-512 BF16) and accumulate and return float32 (oneDNN's "bf16" precision for
    float32 matmuls, the CPU's analogue of TensorFloat-32). Products write into float32 tensors
    directly, so an in-place `addmm_` stays one pass: no bfloat16 copies of the operands or the
    result are made by the caller."""
    return _fp32_precision(torch.backends.mkldnn.matmul, "bf16", enabled)


def capture_graph(device: torch.device, warm_up: Callable[[], None], record: Callable[[], T],
                  generators: Iterable[torch.Generator] = ()) -> tuple[torch.cuda.CUDAGraph, T]:
    """Run warm_up() on a side stream (cuBLAS handles, lazily created state), then capture
    record() into a CUDA graph; returns the graph and what record() returned (its outputs,
    rewritten by every replay). Explicit `generators` are registered with the graph so each
    replay advances them as the eager calls would; the default generator always is."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        warm_up()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    for generator in generators:
        graph.register_generator_state(generator)
    with torch.cuda.graph(graph):
        out = record()
    return graph, out
