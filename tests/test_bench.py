"""The benchmark harness writes what it prints: JSON with environment and a PNG."""

import json

import torch

from conftest import needs_native_bf16
from layerwise.cli.main import main


def test_bench_lab7_writes_json_and_png(tmp_path, capsys):
    assert main(["bench", "lab7", "--steps", "4", "--device", "cpu", "--out", str(tmp_path),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stored = json.loads((tmp_path / "lab7.json").read_text())
    assert stored["rows"].keys() == {"plain eager PyTorch", "layerwise"}
    assert stored["steps"] == 4 and printed["speedup_vs_plain"] == stored["speedup_vs_plain"]
    assert {"torch", "revision", "device_name", "python"} <= set(stored["environment"])
    assert (tmp_path / "lab7.png").read_bytes()[:4] == b"\x89PNG"


def test_rbm_bench_pieces_time_real_epochs():
    from layerwise.bench import rbm

    x = (torch.rand(300, rbm.V, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    assert rbm.gemm_rate(torch.device("cpu"), torch.float32, n=256, repeats=2) > 1e8
    calls = []
    for fn in (rbm.time_layerwise, rbm.time_plain):
        seconds = fn(x, 0, lambda: calls.append(1))
        assert len(seconds) == rbm.EPOCHS and min(seconds) > 0
    assert len(calls) == 2 * rbm.EPOCHS  # one paired GEMM window after every epoch
    sk = rbm.time_sklearn(x, 0)
    assert isinstance(sk, str) and "not installed" in sk or min(sk) > 0


@needs_native_bf16
def test_rbm_bench_pairs_bf16_epochs_with_bf16_gemm_windows():
    from layerwise.bench import rbm

    x = (torch.rand(300, rbm.V, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    row = rbm.time_paired(lambda x, seed, between: rbm.time_layerwise(x, seed, between, "bf16"),
                          x, 0, torch.bfloat16)
    assert len(row["paired_gemm_flops"]) == rbm.EPOCHS and row["x_floor"] > 0
