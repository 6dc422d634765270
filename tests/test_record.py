"""`--record FILE`: a run's command, figures, time, load, machine and revision as JSON, and the
Results page rendered from such records (docs/hooks.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from layerwise.cli.main import main
from layerwise.errors import DataValueError
from layerwise.record import command_line, read_record

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_recorded_run_holds_its_command_figures_and_machine(tmp_path, capsys):
    path = tmp_path / "runs" / "softmax.json"
    argv = ["train", "softmax", "--steps", "20", "--eval-every", "10", "--device", "cpu",
            "--quiet", "--record", str(path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    record = read_record(path)
    assert record["command"] == "layerwise train softmax --steps 20 --eval-every 10 " \
                                "--device cpu --quiet"
    assert record["argv"] == argv[:-2]
    f = record["figures"]
    assert f["model"] == "softmax" and f["steps"] == 20
    assert f"test accuracy {f['test_accuracy']:.4f}" in printed     # the figures it printed
    assert 0 < f["train_seconds"] <= record["wall_seconds"]
    env = record["environment"]
    assert env["torch"] and env["revision"] and "avx2" in env["cpu_instruction_sets"]
    assert len(record["load_average"]["start"]) == 3
    row = _hooks().runs([path.stem], directory=path.parent)
    assert "softmax on mnist-10k, 20 steps" in row and f"{f['test_accuracy']:.4f}" in row
    assert "`layerwise train softmax --steps 20 --eval-every 10 --device cpu --quiet`" in row
    assert "--record" not in row


def test_a_record_path_that_cannot_be_written_is_refused_before_the_work(tmp_path, capsys):
    assert main(["train", "softmax", "--steps", "20", "--quiet", "--record",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--record" in err and "is a directory" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_record_is_named(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"figures": {}}))
    with pytest.raises(DataValueError, match="has no schema, command"):
        read_record(bad)
    bad.write_text("{")
    with pytest.raises(DataValueError, match="not a readable run record"):
        read_record(bad)


def test_the_command_shown_leaves_out_the_record_flag():
    assert command_line(["lab", "6", "--record", "x.json", "--seeds", "2"]) == \
        "layerwise lab 6 --seeds 2"
    assert command_line(["lab", "6", "--record=x.json"]) == "layerwise lab 6"
    assert command_line(["train", "deepnn", "--dataset", "a b"]) == \
        "layerwise train deepnn --dataset 'a b'"


def test_every_committed_record_renders():
    hooks = _hooks()
    names = [p.stem for p in sorted((ROOT / "docs" / "results").glob("*.json"))]
    for name in names:
        row = hooks.runs([name])
        assert read_record(ROOT / "docs" / "results" / f"{name}.json")["command"] in row
