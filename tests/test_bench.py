"""The benchmark harness writes what it prints: JSON with environment and a PNG."""

import json

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
