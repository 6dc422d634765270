"""Shared fixtures: an isolated data environment, small MNIST-format datasets, a loopback server;
the hook that leaves `slow` tests out unless they are asked for."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from layerwise.data.idx import write_idx
from layerwise.device import native_bf16

# bfloat16 products at benchmark sizes are only worth timing where the CPU multiplies bf16 in
# hardware; emulated, one 2048^3 product takes about a minute.
needs_native_bf16 = pytest.mark.skipif(
    not native_bf16(torch.device("cpu")),
    reason="this CPU has neither AVX-512 BF16 nor AMX: bfloat16 products are emulated")

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def pytest_collection_modifyitems(config, items):
    """`slow` tests run only when asked for: when -m names `slow` (`-m slow`, `-m "slow or gpu"`)
    or the test is named by its node id. An addopts `-m "not slow"` would do it too, but any -m
    on the command line replaces it, so `-m "not hosts"` would bring the slow tests back."""
    if "slow" in config.getoption("markexpr"):
        return
    named = [_node_id(config, arg) for arg in config.args if "::" in arg]

    def asked_for(item):
        return any(item.nodeid == n or item.nodeid.startswith((n + "[", n + "::")) for n in named)

    slow = [item for item in items if item.get_closest_marker("slow") and not asked_for(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


def _node_id(config, arg: str) -> str:
    """A command-line `path::name` as the node id pytest gives it (path from the rootdir)."""
    path, _, name = arg.partition("::")
    try:
        path = (config.invocation_params.dir / path).resolve().relative_to(config.rootpath)
    except ValueError:
        return arg
    return f"{path.as_posix()}::{name}"


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch):
    """No test reads the user's cache or environment: each gets its own empty cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LAYERWISE_CACHE", str(cache))
    monkeypatch.delenv("LAYERWISE_DATA", raising=False)
    monkeypatch.delenv("LAYERWISE_MIRRORS", raising=False)
    return cache


def make_mnist_dir(directory: Path, n_train=12, n_test=5, seed=0, gz=True, side=28) -> dict:
    """Write four MNIST-named IDX files of random digits; return {name: md5 of the file}."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    )
    md5 = {}
    for name, arr in zip(MNIST_NAMES, arrays, strict=True):
        path = write_idx(directory / (name + (".gz" if gz else "")), arr)
        md5[path.name] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `files` at /good/NAME, corrupted copies at /bad/NAME, half copies at /cut/NAME."""

    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        self.hits.append(self.path)
        mode, _, name = self.path.strip("/").partition("/")
        body = self.files.get(name)
        if body is None or mode not in ("good", "bad", "cut"):
            self.send_error(404)
            return
        if mode == "bad":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if mode != "cut" else body[: len(body) // 2])
        if mode == "cut":
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A loopback HTTP server; yields (base_url, files dict to fill, list of requested paths)."""
    handler = type("Handler", (_Handler,), {"files": {}, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.files, handler.hits
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, ranks: int, port: int) -> dict:
    """The variables torchrun gives each worker (static rendezvous on loopback)."""
    import os

    return {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(ranks),
            "LOCAL_WORLD_SIZE": str(ranks), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1"}


def start_ranks(argv: list[str], ranks: int, **popen) -> list:
    """Start `ranks` processes running `argv` as one distributed job; return the Popen objects."""
    import subprocess

    port = free_port()
    return [subprocess.Popen(argv, env=rank_env(r, ranks, port), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, **popen) for r in range(ranks)]


def run_ranks(argv: list[str], ranks: int, timeout: float = 180) -> list[tuple[int, str, str]]:
    """Run a distributed job to the end; (exit code, stdout, stderr) per rank."""
    procs = start_ranks(argv, ranks)
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        results.append((p.returncode, out, err))
    return results


@contextlib.contextmanager
def tmpfs(target: Path, options: str):
    """A small tmpfs mounted at `target` (made here) for the block, always unmounted; the
    test is skipped where it cannot be mounted (mounting needs root)."""
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)
