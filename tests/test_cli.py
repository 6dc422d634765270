"""The command line as a user meets it: help, JSON output, one-sentence errors."""

import json
import subprocess
import sys

import pytest

from layerwise.cli.main import build_parser, main


def _subcommand_paths(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommand_paths(sub, (*prefix, name))


@pytest.mark.parametrize("path", [()] + sorted(_subcommand_paths(build_parser())))
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    assert "usage: layerwise" in capsys.readouterr().out


def test_json_is_the_last_stdout_line(capsys):
    assert main(["data", "list", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"mnist", "fashion-mnist", "cifar-10", "mnist-10k", "random-binary"} <= {
        d["name"] for d in figures["datasets"]}


def test_missing_dataset_offline_exits_nonzero_with_one_sentence(capsys):
    assert main(["data", "path", "mnist", "--offline"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: mnist was not found in") and err.count("\n") == 1


def test_python_dash_m_and_errors_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "layerwise", "data", "verify", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr  # a bad flag value
    assert proc.stderr.strip() == ("layerwise: error: unknown dataset 'nope'; known: mnist, "
                                   "fashion-mnist, cifar-10, mnist-10k, regression, lab4, "
                                   "random-binary, a directory of MNIST-format IDX files, "
                                   "or MNIST's mnist.pkl.gz.")


def test_quickstart_trains_offline_and_reports_measured_figures(capsys):
    # deepnn shortened to 40 steps to keep the suite fast; the default is 1000.
    assert main(["quickstart", "--json", "--device", "cpu", "--deepnn-steps", "40"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    softmax, deepnn = figures["models"]["softmax"], figures["models"]["deepnn"]
    assert figures["dataset"] == "mnist-10k" and softmax["steps"] == 1000
    assert softmax["test_accuracy"] >= 0.88 and softmax["train_seconds"] > 0
    assert deepnn["steps"] == 40 and deepnn["test_accuracy"] > 0.5  # chance is 0.1
    for model in (softmax, deepnn):
        assert any(f"{model['test_accuracy']:.4f}" in line for line in out[:-1])


def test_bad_device_flag(capsys):
    assert main(["quickstart", "--device", "tpu"]) == 2
    assert "--device 'tpu' is not a device" in capsys.readouterr().err


def test_help_and_flag_errors_answer_before_torch_is_imported():
    """--help and a wrong flag need only argparse: nothing imports PyTorch (or NumPy) first."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from layerwise.cli.main import main\n"
            "for argv in (['--help'], ['train', '--help'], ['rbm', 'train', '--bogus'],\n"
            "             ['train', 'nosuchmodel']):\n"
            "    try:\n"
            "        main(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    assert "invalid choice: 'nosuchmodel'" in done.stderr


def test_the_names_the_parser_offers_are_the_librarys():
    from layerwise import names
    from layerwise.nn.layers import ACTIVATIONS
    from layerwise.nn.models import MODELS
    from layerwise.rbm.model import DTYPES

    assert tuple(MODELS) == names.MODELS and tuple(ACTIVATIONS) == names.ACTIVATIONS
    assert tuple(DTYPES) == names.RBM_DTYPES


def test_written_files_get_the_users_umask(tmp_path):
    import os

    from layerwise.data.files import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a", b"x")
        os.umask(0o002)
        atomic_write_bytes(tmp_path / "b", b"x")
        assert main(["train", "softmax", "--steps", "1", "--device", "cpu", "--quiet",
                     "--checkpoint", str(tmp_path / "c.pt")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o664


def test_eval_says_when_the_datasets_classes_are_not_the_checkpoints(tmp_path, capsys):
    from conftest import make_mnist_dir

    ck = tmp_path / "m.pt"
    assert main(["train", "softmax", "--steps", "2", "--device", "cpu", "--quiet",
                 "--checkpoint", str(ck)]) == 0
    assert main(["eval", str(ck), "--device", "cpu"]) == 0  # the same data: no note
    assert "note:" not in capsys.readouterr().out
    other = tmp_path / "other"
    make_mnist_dir(other, n_train=20, n_test=10)  # labels 0-9, but "0".."9" by position only
    import dataclasses

    from layerwise.data import CATALOG
    spec = dataclasses.replace(CATALOG["mnist-10k"], name="letters",
                               classes=tuple("abcdefghij"), system_dirs=(str(other),),
                               files=tuple(dataclasses.replace(f, sha256=None, size=None,
                                                               shape=None)
                                           for f in CATALOG["mnist-10k"].files),
                               embedded=False)
    CATALOG["letters"] = spec
    try:
        assert main(["eval", str(ck), "--dataset", "letters", "--device", "cpu"]) == 0
    finally:
        del CATALOG["letters"]
    out = capsys.readouterr().out
    assert "note: " in out and "mnist-10k" in out and "compares different labels" in out


def test_one_vocabulary_with_the_old_names_still_working(tmp_path, capsys):
    """--checkpoint, --plots, --l2 and --logdir mean the same in train, rbm train and dbn
    train; --save, --images, --curves and --weight-decay still work but leave --help."""
    import contextlib

    import torch

    from layerwise.rbm import io

    assert main(["rbm", "train", "--hidden", "8", "--epochs", "1", "--device", "cpu", "--quiet",
                 "--checkpoint", str(tmp_path / "a.pt"), "--plots", str(tmp_path / "p"),
                 "--l2", "0.001"]) == 0
    assert io.load_payload(tmp_path / "a.pt")["train"]["weight_decay"] == 0.001
    assert (tmp_path / "p" / "filters.png").exists()
    assert main(["rbm", "train", "--hidden", "8", "--epochs", "1", "--device", "cpu", "--quiet",
                 "--save", str(tmp_path / "b.pt"), "--images", str(tmp_path / "q"),
                 "--weight-decay", "0.002"]) == 0
    assert io.load_payload(tmp_path / "b.pt")["train"]["weight_decay"] == 0.002
    assert main(["train", "softmax", "--steps", "4", "--eval-every", "2", "--device", "cpu",
                 "--quiet", "--plots", str(tmp_path / "c"), "--save", str(tmp_path / "c.pt")
                 ]) == 0
    assert (tmp_path / "c" / "curves.csv").exists() and (tmp_path / "c.pt").exists()
    capsys.readouterr()
    for argv in (["rbm", "train", "--help"], ["train", "--help"], ["dbn", "train", "--help"]):
        with contextlib.suppress(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "--checkpoint" in text and "--plots" in text or argv[0] == "dbn"
        for old in ("--save ", "--images", "--curves", "--weight-decay"):
            assert old not in text, (argv, old)
    assert main(["dbn", "train", "--layers", "16", "--epochs", "1", "--finetune-epochs", "1",
                 "--device", "cpu", "--quiet", "--checkpoint", str(tmp_path / "d.pt"),
                 "--logdir", str(tmp_path / "tb"), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert out[1].startswith("pretraining ") and "fine-tuning" in out[1]
    from layerwise.data import load_dataset
    from layerwise.rbm.data import fit_preprocessing
    from layerwise.rbm.dbn import load_dbn
    data = load_dataset("mnist-10k", val_size=0)
    x = fit_preprocessing(data.train.x, "binary", False)(data.test.x)
    with torch.no_grad():
        accuracy = (load_dbn(tmp_path / "d.pt")(x).argmax(1) == data.test.y).float().mean()
    assert abs(float(accuracy) - figures["dbn_accuracy"]) < 1e-6
    assert any((tmp_path / "tb" / "dbn" / "train").iterdir())


def test_every_flag_has_help_and_shows_its_default():
    import argparse

    from layerwise.cli.main import build_parser

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from walk(child, [*path, name])
            elif action.option_strings and action.help != argparse.SUPPRESS \
                    and "-h" not in action.option_strings:
                yield parser, path, action

    missing = []
    for parser, path, action in walk(build_parser(), []):
        shown = parser.formatter_class("x")._get_help_string(action)
        needs_default = action.default not in (None, False, argparse.SUPPRESS)
        if not action.help or (needs_default and "default" not in shown):
            missing.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert not missing, missing


def test_full_batch_gradient_descent_refuses_a_batch_size(capsys):
    """--optimizer gd uses every training example each step; a --batch-size beside it was
    silently ignored."""
    assert main(["train", "softmax", "--optimizer", "gd", "--batch-size", "100",
                 "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "--optimizer gd takes the whole training set" in err and "--batch-size" in err
