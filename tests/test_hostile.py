"""Hostile input and signals: one sentence and a non-zero exit for bad values and paths, no
traceback, nothing partial left behind, SIGTERM handled like Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from layerwise.cli.main import main
from layerwise.data.files import atomic_write_bytes

TRAIN = ["train", "softmax", "--steps", "2", "--device", "cpu", "--quiet"]


@pytest.mark.parametrize("flags", [
    ["--lr", "nan"], ["--lr", "-1"], ["--l2", "-0.1"], ["--l2", "inf"], ["--momentum", "1.5"],
    ["--patience", "-1"], ["--val-size", "-5"], ["--eval-every", "-3"], ["--hidden", "0"],
    ["--hidden", "-4"], ["--hidden", "16,abc"], ["--shift", "-1"]])
def test_bad_training_values_are_one_sentence(flags, capsys):
    model = ["mlp"] if flags[0] == "--hidden" else []
    argv = [*TRAIN[:1], *(model or TRAIN[1:2]), *TRAIN[2:], *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: ") and err.count("\n") == 1, err
    assert flags[0] in err


@pytest.mark.parametrize("flags", [["--lr", "nan"], ["--l2", "nan"], ["--momentum", "1"],
                                   ["--epochs", "-1"], ["--cd-k", "0"]])
def test_bad_rbm_values_are_one_sentence(flags, capsys):
    assert main(["rbm", "train", "--hidden", "4", "--device", "cpu", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: ") and err.count("\n") == 1, err


def test_output_paths_that_cannot_work_are_refused_before_training(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    start = time.perf_counter()
    assert main([*TRAIN, "--checkpoint", str(tmp_path / "dir")]) == 2
    assert main([*TRAIN, "--logdir", str(tmp_path / "file")]) == 2
    assert main(["rbm", "train", "--hidden", "4", "--device", "cpu", "--checkpoint",
                 str(tmp_path / "dir")]) == 2
    assert main(["rbm", "train", "--hidden", "4", "--device", "cpu", "--plots",
                 str(tmp_path / "file")]) == 2
    assert time.perf_counter() - start < 10  # no training happened first
    err = capsys.readouterr().err.splitlines()
    assert "is a directory" in err[0] and "is a file" in err[1] and len(err) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]


def test_a_checkpoint_name_near_the_limit_is_written(tmp_path):
    name = "m" * 250 + ".pt"  # 253 bytes: its old temporary name passed 255
    assert main([*TRAIN, "--checkpoint", str(tmp_path / name)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_dead_writers_leftover_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".ck.pt.{dead.pid}.abcd.part"
    live = tmp_path / f".ck.pt.{os.getpid()}.efgh.part"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    atomic_write_bytes(tmp_path / "ck.pt", b"whole")
    assert not stale.exists() and live.exists() and (tmp_path / "ck.pt").read_bytes() == b"whole"


def test_sigterm_ends_training_with_a_line_and_an_intact_checkpoint(tmp_path):
    ck = tmp_path / "ck.pt"
    proc = subprocess.Popen([sys.executable, "-m", "layerwise", "train", "mlp", "--hidden", "64",
                             "--steps", "1000000", "--eval-every", "25", "--device", "cpu",
                             "--quiet", "--checkpoint", str(ck)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not ck.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [
        "layerwise: terminated (SIGTERM); files being written were removed, the last checkpoint "
        "written is intact"]
    payload = torch.load(ck, weights_only=True)
    assert payload["step"] >= 25 and payload["step"] % 25 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
