"""Downloads against a loopback HTTP server: mirrors in order, checksums, interrupted transfers,
atomic writes, unwritable caches."""

import dataclasses
import io
import tarfile

import pytest

from conftest import free_port, make_mnist_dir
from layerwise.cli.main import main
from layerwise.data import catalog
from layerwise.data.catalog import CATALOG, FileSpec
from layerwise.data.cifar import write_cifar_python
from layerwise.data.datasets import load_dataset
from layerwise.data.download import download_file
from layerwise.errors import DataError


@pytest.fixture
def served(tmp_path, http_server, monkeypatch):
    """A catalog entry `tiny` whose files the loopback server holds."""
    base, files, hits = http_server
    md5 = make_mnist_dir(tmp_path / "pub", n_train=30, n_test=10)
    for name in md5:
        files[name] = (tmp_path / "pub" / name).read_bytes()
    specs = tuple(FileSpec(n, size=len(files[n]), md5=h) for n, h in md5.items())
    spec = dataclasses.replace(catalog.MNIST, name="tiny", files=specs, mirrors=(base + "/good/",),
                               system_dirs=())
    monkeypatch.setitem(CATALOG, "tiny", spec)
    return base, spec, hits


def _leftovers(directory):
    return [p.name for p in directory.rglob("*") if p.is_file() and ".part" in p.name]


def test_fetch_into_cache_then_load(served, isolated_data_env, capsys):
    assert main(["data", "fetch", "tiny", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"source": "download"' in out
    assert sorted(p.name for p in (isolated_data_env / "tiny").iterdir()) == sorted(
        f.name for f in served[1].files)
    data = load_dataset("tiny", offline=True, val_size=0)
    assert len(data.train) == 30 and len(data.test) == 10


def test_dead_first_mirror_then_good_one(served, isolated_data_env, monkeypatch):
    base, spec, hits = served
    dead = f"http://127.0.0.1:{free_port()}/"
    monkeypatch.setitem(CATALOG, "tiny", dataclasses.replace(spec, mirrors=(dead, base + "/good/")))
    load_dataset("tiny", val_size=0, progress=False)
    assert len(hits) == 4 and _leftovers(isolated_data_env) == []


def test_user_mirror_from_environment_is_tried_first(served, monkeypatch, isolated_data_env):
    base, spec, hits = served
    monkeypatch.setenv("LAYERWISE_MIRRORS", base + "/bad")
    load_dataset("tiny", val_size=0, progress=False)
    assert [h.split("/")[1] for h in hits] == ["bad", "good"] * 4


def test_checksum_failure_on_every_mirror_leaves_nothing(served, monkeypatch, isolated_data_env):
    base, spec, _ = served
    monkeypatch.setitem(CATALOG, "tiny", dataclasses.replace(spec, mirrors=(base + "/bad/",)))
    with pytest.raises(DataError, match="checksum mismatch: MD5"):
        load_dataset("tiny", progress=False)
    assert not any((isolated_data_env / "tiny").glob("*"))


def test_interrupted_transfer_is_detected_and_removed(served, monkeypatch, isolated_data_env):
    base, spec, _ = served
    monkeypatch.setitem(CATALOG, "tiny", dataclasses.replace(spec, mirrors=(base + "/cut/",)))
    with pytest.raises(DataError, match="interrupted"):
        load_dataset("tiny", progress=False)
    assert not any((isolated_data_env / "tiny").glob("*"))


def test_http_error_is_reported_per_mirror(http_server, tmp_path):
    base, _, _ = http_server
    with pytest.raises(DataError, match=r"missing\.gz: HTTP 404"):
        download_file(FileSpec("missing.gz"), (base + "/good/",), tmp_path / "missing.gz")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_is_one_clear_error(served, monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LAYERWISE_CACHE", str(blocker / "cache"))
    assert main(["data", "fetch", "tiny"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: cannot create directory") and "LAYERWISE_CACHE" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cifar_archive_download_and_safe_extraction(http_server, tmp_path, monkeypatch,
                                                    isolated_data_env):
    base, files, _ = http_server
    import hashlib

    import numpy as np
    rng = np.random.default_rng(0)
    buf, specs = io.BytesIO(), []
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            images = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
            write_cifar_python(tmp_path / name, images, rng.integers(0, 10, 4))
            raw = (tmp_path / name).read_bytes()
            specs.append(FileSpec(name, md5=hashlib.md5(raw).hexdigest()))
            tar.add(tmp_path / name, arcname=f"cifar-10-batches-py/{name}")
        evil = tarfile.TarInfo("../../escape")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    files["cifar-10-python.tar.gz"] = buf.getvalue()
    archive = FileSpec("cifar-10-python.tar.gz", size=len(buf.getvalue()),
                       md5=hashlib.md5(buf.getvalue()).hexdigest())
    spec = dataclasses.replace(catalog.CIFAR10, files=tuple(specs), archive=archive,
                               mirrors=(base + "/good/",))
    monkeypatch.setitem(CATALOG, "cifar-10", spec)
    data = load_dataset("cifar-10", val_size=2, progress=False)
    assert data.train.x.shape == (18, 3, 32, 32) and len(data.test) == 4
    assert not (isolated_data_env / "cifar-10" / "cifar-10-python.tar.gz").exists()
    assert not (tmp_path / "escape").exists() and not (isolated_data_env / "escape").exists()
