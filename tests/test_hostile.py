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


@pytest.mark.multiprocess
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


def _idx_dir(path, train_x, train_y, test_x, test_y):
    from layerwise.data.idx import write_idx

    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    for name, array in zip(names, (train_x, train_y, test_x, test_y), strict=True):
        write_idx(path / name, array)
    return path


@pytest.mark.parametrize("case,expect", [
    ("no_images", "holds no images"), ("labels_2d", "expected one integer label per image"),
    ("huge_label", "labels must be class numbers"), ("other_shapes", "both splits must match"),
    ("negative_label", "labels must be class numbers")])
def test_idx_directories_that_cannot_be_datasets(case, expect, tmp_path, capsys):
    import numpy as np

    x, y = np.zeros((6, 28, 28), np.uint8), np.arange(6, dtype=np.uint8)
    tx, ty = np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8)
    if case == "no_images":
        x, y = x[:0], y[:0]
    elif case == "labels_2d":
        y = y.reshape(2, 3)
    elif case == "huge_label":
        y = np.array([0, 1, 2, 3, 4, 2**31 - 1], dtype=np.int32)
    elif case == "other_shapes":
        tx = np.zeros((3, 20, 20), np.uint8)
    elif case == "negative_label":
        y = np.array([0, 1, -2, 3, 4, 5], dtype=np.int8)
    d = _idx_dir(tmp_path, x, y, tx, ty)
    assert main([*TRAIN, "--dataset", str(d)]) == 1
    err = capsys.readouterr().err
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err


def test_more_bad_inputs_are_one_sentence(tmp_path, capsys):
    import numpy as np

    from layerwise.rbm import io

    assert main([*TRAIN, "--dataset", "regression:coef=abc"]) == 2
    ck = tmp_path / "m.pt"
    assert main([*TRAIN[:1], "softmax", "--dataset", str(_idx_dir(
        tmp_path / "few", np.zeros((6, 28, 28), np.uint8), np.arange(6, dtype=np.uint8) % 3,
        np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8))), *TRAIN[2:],
        "--checkpoint", str(ck)]) == 0
    # A model of 3 classes evaluated on 10: refused, not an index error.
    assert main(["eval", str(ck), "--device", "cpu"]) == 2
    rbm_ck = tmp_path / "r.pt"
    assert main(["rbm", "train", "--hidden", "4", "--epochs", "0", "--device", "cpu", "--quiet",
                 "--checkpoint", str(rbm_ck)]) == 0
    assert io.load_payload(rbm_ck)["step"] == 0  # --epochs 0 still keeps the untrained model
    payload = io.load_payload(rbm_ck)
    payload["state"]["W"][0, 0] = float("nan")
    torch.save(payload, tmp_path / "bad.pt")
    for argv in (["rbm", "info", str(tmp_path / "bad.pt")],
                 ["rbm", "sample", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "s.png")]):
        assert main(argv) == 1  # non-finite weights are refused when the file is read
    assert not (tmp_path / "s.png").exists()
    assert main(["launch", "--nproc-per-node", "2", "--", "frobnicate"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert all(line.startswith("layerwise: error: ") for line in err) and len(err) == 5, err
    assert "coef='abc'" in err[0] and "cannot classify" in err[1]
    assert all("non-finite weights (NaN or infinity in W)" in line for line in err[2:4])
    assert "'frobnicate' is not a layerwise command" in err[4]


def test_nan_pixels_do_not_pass_as_binary_data():
    from layerwise.errors import ConfigError
    from layerwise.rbm.data import Preprocessing

    x = torch.rand(4, 9)
    x[1, 2] = float("nan")
    with pytest.raises(ConfigError, match="NaN"):
        Preprocessing()(x)


def test_launch_knows_every_command():
    from layerwise.cli.main import COMMANDS_BY_NAME, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert tuple(sub.choices) == COMMANDS_BY_NAME


def test_memory_is_refused_before_it_is_taken(tmp_path, capsys):
    import gzip

    import numpy as np

    # An IDX header for 10 images and a payload that would inflate to 50 MB: refused at the
    # size the header declares, from a file of about 50 kB.
    header = bytes([0, 0, 8, 3]) + np.array([10, 28, 28], ">u4").tobytes()
    d = _idx_dir(tmp_path, np.zeros((10, 28, 28), np.uint8), np.arange(10, dtype=np.uint8),
                 np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8))
    bomb = gzip.compress(header + bytes(50_000_000))
    (d / "train-images-idx3-ubyte").unlink()
    (d / "train-images-idx3-ubyte.gz").write_bytes(bomb)
    assert len(bomb) < 100_000
    assert main([*TRAIN, "--dataset", str(d)]) == 1
    assert "inflates to more than 7,856 bytes" in capsys.readouterr().err
    # Parameters that would not fit in this machine's memory: one sentence with the size.
    assert main(["rbm", "train", "--hidden", "100000000000", "--device", "cpu"]) == 2
    assert main(["train", "mlp", "--hidden", "100000000000", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("GB but only" in line and "can be allocated here" in line
                                 for line in err), err


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory):
    """An mlp checkpoint (hidden 32, adam, 20 steps) and an RBM one (16 hidden, 1 epoch)."""
    d = tmp_path_factory.mktemp("resume")
    assert main(["train", "mlp", "--hidden", "32", "--steps", "20", "--device", "cpu",
                 "--checkpoint", str(d / "mlp.pt"), "--quiet"]) == 0
    assert main(["rbm", "train", "--hidden", "16", "--epochs", "1", "--device", "cpu",
                 "--checkpoint", str(d / "rbm.pt"), "--quiet"]) == 0
    return d


@pytest.mark.parametrize("argv,named", [
    (["train", "softmax"], "the model mlp (asked: softmax)"),
    (["train", "mlp", "--hidden", "64"], "--hidden 32 (asked: 64)"),
    (["train", "mlp", "--optimizer", "sgd", "--batch-size", "10"], "--optimizer adam"),
    (["train", "mlp", "--activation", "tanh", "--seed", "3"], "--seed 0 (asked: 3)"),
    (["rbm", "train", "--visible", "gaussian"], "--visible binary (asked: gaussian)"),
    (["rbm", "train", "--hidden", "20", "--pcd"], "--pcd False (asked: True)"),
    (["rbm", "train", "--binarize"], "without --binarize"),
    (["rbm", "train", "--parallel", "model"], "single-process run"),
])
def test_resume_refuses_changes_that_cannot_be_made(saved_runs, argv, named, capsys):
    ckpt = saved_runs / ("rbm.pt" if argv[0] == "rbm" else "mlp.pt")
    before = ckpt.read_bytes()
    code = main([*argv, "--resume", str(ckpt), "--checkpoint", str(ckpt), "--device", "cpu",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("layerwise: error: ") and err.count("\n") == 1, err
    assert named in err and "Traceback" not in err
    assert ckpt.read_bytes() == before


def test_resume_applies_and_says_the_changes_it_may_make(saved_runs, tmp_path, capsys):
    out = tmp_path / "mlp.pt"
    assert main(["train", "mlp", "--resume", str(saved_runs / "mlp.pt"), "--steps", "30",
                 "--lr", "0.01", "--checkpoint", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().out  # said with the progress lines
    assert "--lr 0.001 -> 0.01" in err and "--steps 20 -> 30" in err
    payload = torch.load(out, weights_only=False)
    assert payload["train"]["lr"] == 0.01 and payload["step"] == 30
    assert payload["optimizer"]["param_groups"][0]["lr"] == 0.01  # used, not only recorded
    rbm = tmp_path / "rbm.pt"
    assert main(["rbm", "train", "--resume", str(saved_runs / "rbm.pt"), "--epochs", "2",
                 "--lr", "0.02", "--checkpoint", str(rbm), "--device", "cpu", "--json"]) == 0
    err = capsys.readouterr().err  # under --json progress goes to stderr
    assert "--lr 0.05 -> 0.02" in err and "--epochs 1 -> 2" in err
    assert torch.load(rbm, weights_only=False)["train"]["lr"] == 0.02


def test_resume_in_python_compares_the_model_too(saved_runs):
    from layerwise import ModelConfig, RunConfig, fit, resume_recipe
    from layerwise.errors import ConfigError

    run = RunConfig(device="cpu", resume=str(saved_runs / "mlp.pt"))
    with pytest.raises(ConfigError, match="--hidden 32"):
        fit(ModelConfig("mlp", hidden=(8,)), "mnist-10k", None, run, progress=False)
    recipe = resume_recipe(run.resume, train={"steps": 25})
    model, cfg = recipe.model, recipe.train
    assert model.hidden == (32,) and cfg.steps == 25 and cfg.optimizer == "adam"
    assert fit(model, "mnist-10k", cfg, run, progress=False).notes == (
        f"resuming {run.resume} with --steps 20 -> 25",)
