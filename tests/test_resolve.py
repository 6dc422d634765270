"""Resolution order, verification and the errors a user meets when files are missing or bad."""

import dataclasses
import gzip

import numpy as np
import pytest

from conftest import make_mnist_dir
from layerwise.data import catalog
from layerwise.data.catalog import CATALOG, FileSpec
from layerwise.data.datasets import load_dataset
from layerwise.data.resolve import locate, read_location
from layerwise.errors import ConfigError, DataError


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A catalog entry `tiny` whose published files (with MD5s) live in tmp_path/published."""
    md5 = make_mnist_dir(tmp_path / "published", n_train=12, n_test=5)
    files = tuple(FileSpec(name, md5=h) for name, h in md5.items())
    spec = dataclasses.replace(catalog.MNIST, name="tiny", files=files, mirrors=(),
                               system_dirs=(str(tmp_path / "system"),))
    monkeypatch.setitem(CATALOG, "tiny", spec)
    return tmp_path / "published"


def _copy(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_resolution_order(tiny, tmp_path, monkeypatch, isolated_data_env):
    system = _copy(tiny, tmp_path / "system")
    assert locate("tiny").source == "system"
    _copy(tiny, isolated_data_env / "tiny")
    assert locate("tiny").source == "cache"
    env = _copy(tiny, tmp_path / "envroot" / "tiny")
    monkeypatch.setenv("LAYERWISE_DATA", str(env.parent))
    assert locate("tiny").source == "LAYERWISE_DATA"
    explicit = _copy(tiny, tmp_path / "explicit")  # files directly in the given directory
    loc = locate("tiny", data_dir=explicit)
    assert (loc.source, loc.directory) == ("data-dir", explicit)
    assert system.exists()


def test_verified_by_published_md5_and_counts_checked(tiny):
    loc = locate("tiny", data_dir=tiny)
    arrays, methods = read_location(loc)
    assert set(methods.values()) == {"md5"}
    assert arrays["train_x"].shape == (12, 28, 28) and arrays["test_y"].shape == (5,)


def test_a_bad_location_is_an_error_not_skipped(tiny, tmp_path, isolated_data_env):
    _copy(tiny, isolated_data_env / "tiny")  # a good copy later in the order
    bad = _copy(tiny, tmp_path / "bad")
    target = bad / "train-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz is corrupt.*MD5"):
        read_location(locate("tiny", data_dir=bad))


def test_a_partial_location_is_an_error(tiny, tmp_path):
    part = _copy(tiny, tmp_path / "part")
    (part / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="holds part of tiny but lacks t10k-labels"):
        locate("tiny", data_dir=part)


def test_missing_offline_names_every_place_looked(tiny, tmp_path, isolated_data_env):
    with pytest.raises(DataError) as err:
        locate("tiny", data_dir=tmp_path / "nowhere", offline=True)
    msg = str(err.value)
    for place in (tmp_path / "nowhere", isolated_data_env / "tiny", tmp_path / "system"):
        assert str(place) in msg
    assert "offline" in msg and "--data-dir" in msg


def test_recompressed_copy_verified_by_content_hash(tmp_path, monkeypatch):
    """Like Debian's Fashion-MNIST: same data, different gzip bytes, so MD5 fails, SHA-256 of
    the content passes; a changed content fails."""
    import hashlib
    md5 = make_mnist_dir(tmp_path / "pub")
    content = {n: hashlib.sha256(gzip.decompress((tmp_path / "pub" / n).read_bytes())).hexdigest()
               for n in md5}
    files = tuple(FileSpec(n, md5=md5[n], content_sha256=content[n]) for n in md5)
    monkeypatch.setitem(CATALOG, "rc", dataclasses.replace(catalog.MNIST, name="rc", files=files))
    repacked = tmp_path / "repacked"
    repacked.mkdir()
    for n in md5:
        raw = gzip.decompress((tmp_path / "pub" / n).read_bytes())
        (repacked / n).write_bytes(gzip.compress(raw, compresslevel=1, mtime=12345))
        (repacked / n[:-3]).write_bytes(raw) if n.startswith("t10k-labels") else None
    (repacked / "t10k-labels-idx1-ubyte").unlink()
    _, methods = read_location(locate("rc", data_dir=repacked, offline=True))
    assert set(methods.values()) == {"content-sha256"}
    raw = bytearray(gzip.decompress((repacked / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[100] ^= 1
    (repacked / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="SHA-256 of its content"):
        read_location(locate("rc", data_dir=repacked, offline=True))


def test_directory_of_idx_files_is_a_dataset(tmp_path):
    make_mnist_dir(tmp_path / "kmnist", n_train=20, n_test=6, gz=False)
    data = load_dataset(str(tmp_path / "kmnist"), val_size=4)
    assert (len(data.train), len(data.val), len(data.test)) == (16, 4, 6)
    assert data.train.x.shape[1:] == (1, 28, 28) and data.train.x.max() <= 1.0


def test_mismatched_image_and_label_counts(tmp_path):
    from layerwise.data.idx import write_idx
    make_mnist_dir(tmp_path / "d", n_train=10, n_test=4)
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(9, np.uint8))
    with pytest.raises(DataError, match="10 images but 9 labels"):
        load_dataset(str(tmp_path / "d"))


def test_wrong_shape_for_a_catalog_dataset(tiny, tmp_path, monkeypatch):
    spec = CATALOG["tiny"]
    files = (dataclasses.replace(spec.files[0], shape=(60000, 28, 28)), *spec.files[1:])
    monkeypatch.setitem(CATALOG, "tiny", dataclasses.replace(spec, files=files))
    with pytest.raises(DataError, match=r"shape \(12, 28, 28\); expected \(60000, 28, 28\)"):
        read_location(locate("tiny", data_dir=tiny))


def test_embedded_mnist_10k_is_verified_and_real():
    loc = locate("mnist-10k", offline=True)
    arrays, methods = read_location(loc)
    assert loc.source == "embedded" and set(methods.values()) == {"sha256"}
    assert arrays["train_x"].shape == (8000, 28, 28) and arrays["test_x"].shape == (2000, 28, 28)
    counts = np.bincount(np.concatenate([arrays["train_y"], arrays["test_y"]]), minlength=10)
    assert counts.sum() == 10000 and counts.min() > 800  # every digit well represented
    # Real digits: mostly black background, ink in the centre, 256 grey levels in use.
    x = arrays["train_x"]
    assert (x == 0).mean() > 0.7 and len(np.unique(x)) == 256
    assert x[:, 10:18, 10:18].mean() > 4 * x[:, :3, :].mean()


def test_unknown_dataset_name():
    with pytest.raises(ConfigError, match="unknown dataset 'nope'.*mnist-10k"):
        locate("nope")


def test_every_command_accepts_a_directory_and_a_synthetic_spec(tmp_path, capsys):
    """One resolver: `data path|verify|fetch`, `train`, `eval` and `rbm train` take the same
    names: catalog names, NAME:options and directories of MNIST-named IDX files."""
    import json

    from layerwise.cli.main import main

    d = tmp_path / "digits"
    make_mnist_dir(d, n_train=40, n_test=10)
    for action in ("path", "verify", "fetch"):
        assert main(["data", action, str(d), "--json"]) == 0, action
        figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert figures["path"] == str(d)
    assert main(["data", "verify", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["train"] == 40
    assert main(["data", "path", "random-binary:n=10,visible=4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["source"] == "synthetic"
    ck = tmp_path / "m.pt"
    assert main(["train", "softmax", "--dataset", str(d), "--steps", "2", "--device", "cpu",
                 "--checkpoint", str(ck)]) == 0
    assert main(["eval", str(ck), "--dataset", str(d), "--device", "cpu"]) == 0
    assert main(["rbm", "train", "--dataset", str(d), "--hidden", "4", "--epochs", "1",
                 "--device", "cpu"]) == 0
    assert main(["rbm", "train", "--dataset", "random-binary:n=30,visible=6", "--hidden", "3",
                 "--epochs", "1", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["data", "path", "mnist-10k:n=3"]) == 1
    assert "takes no options" in capsys.readouterr().err
