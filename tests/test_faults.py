"""Faults a run meets beyond its checkpoint: a signal or a full disk while sharded checkpoints,
curves or TensorBoard events are written, names the file system cannot hold, memory a flag or
a model asks for, images of other types than uint8, and misused Python calls. Each ends in one
layerwise sentence with nothing partial left behind; each fault is forced deterministically (a
hook in the writer, a small tmpfs where the suite runs as root)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tmpfs
from layerwise import signals
from layerwise.cli.main import main
from layerwise.data import files
from layerwise.errors import ConfigTypeError, DataError, LayerwiseError, Terminated

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
QUIET = ["--device", "cpu", "--quiet"]


def _parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith((".part", ".lock")))


def _fail_write(monkeypatch, fault, after: int = 0) -> list:
    """Make the writer of torch.save's bytes meet `fault` at its `after`-th call (counted from
    0): a signal sent to this process, or an OSError raised (ENOSPC: a full disk)."""
    real, calls = files.RecordingWriter.write, []

    def write(self, data):
        calls.append(len(data))
        if len(calls) == after + 1:
            if isinstance(fault, OSError):
                raise fault
            os.kill(os.getpid(), fault)
        return real(self, data)

    monkeypatch.setattr(files.RecordingWriter, "write", write)
    return calls


def _parallel_run(shard_dir: Path, epochs: int):
    import layerwise as lw

    x = (torch.rand(40, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    return lw.fit_rbm(lw.RBMConfig(n_hidden=4), x, lw.CDConfig(epochs=epochs, batch_size=20),
                      lw.RunConfig(device="cpu"), parallel=lw.ParallelConfig(),
                      shards=str(shard_dir), progress=False)


@pytest.mark.parametrize("fault", [signal.SIGTERM, OSError(errno.ENOSPC, "No space left")],
                         ids=["SIGTERM", "ENOSPC"])
def test_a_fault_inside_a_shard_write_leaves_the_last_set(tmp_path, monkeypatch, fault):
    """Shards were written by a bare torch.save: a signal inside one reached the user as
    torch's 'unexpected pos' RuntimeError, and so did a full disk. Now the signal unwinds as
    the command's own exception, the disk is one sentence, and the manifest's set of the
    epoch before stays whole, with no temporary file left."""
    from layerwise.rbm import shards

    _parallel_run(tmp_path, epochs=1)
    before = shards.read_manifest(tmp_path)
    _fail_write(monkeypatch, fault)
    previous = signals.install()
    try:
        expected = Terminated if isinstance(fault, int) else DataError
        with pytest.raises(expected) as caught:
            _parallel_run_resumed(tmp_path)
    finally:
        signals.restore(previous)
    if expected is DataError:
        assert "the file system is full" in str(caught.value)
    assert shards.read_manifest(tmp_path) == before
    for name in before["files"]:
        assert torch.load(tmp_path / name, weights_only=True)
    assert _parts(tmp_path) == []


def _parallel_run_resumed(shard_dir: Path):
    import layerwise as lw

    x = (torch.rand(40, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    return lw.fit_rbm(None, x, lw.CDConfig(epochs=2, batch_size=20),
                      lw.RunConfig(device="cpu", resume=str(shard_dir)),
                      parallel=lw.ParallelConfig(), shards=str(shard_dir), progress=False)


def _rows(n: int = 3) -> list[dict]:
    return [{"step": 10 * i, "train_loss": 1.0 / (i + 1), "val_loss": 1.1 / (i + 1),
             "val_accuracy": 0.5 + 0.1 * i} for i in range(n)]


def test_curves_are_written_as_one_set(tmp_path, monkeypatch):
    """`--plots` wrote curves.csv and then drew curves.png: a full disk or a signal between
    them left a CSV without its plot. Both are drawn first and renamed together: a failure
    leaves neither new file, a signal arriving in the writes waits until both are whole."""
    from layerwise.train.curves import write_run_curves

    real_fsync, calls = os.fsync, []

    def fsync_full_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync_full_on_second)
    with pytest.raises(DataError, match="the file system is full"):
        write_run_curves(_rows(), tmp_path / "plots", "a title")
    assert list((tmp_path / "plots").iterdir()) == []

    def fsync_then_signal(fd):
        calls.append(fd)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync_then_signal)
    previous = signals.install()
    try:
        with pytest.raises(Terminated):
            write_run_curves(_rows(), tmp_path / "plots", "a title")
    finally:
        signals.restore(previous)
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert written == ["curves.csv", "curves.png"]
    assert (tmp_path / "plots" / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert len((tmp_path / "plots" / "curves.csv").read_text().splitlines()) == 4


@pytest.mark.multiprocess
@pytest.mark.skipif(not ROOT, reason="mounting a small tmpfs needs root")
def test_tensorboard_events_on_a_full_disk_are_one_sentence_and_removed(tmp_path):
    """A full disk under --logdir was a traceback from TensorBoard's writer thread (and, with
    TensorFlow installed, TensorFlow's own error type and its C++ log lines): now one line,
    exit 1, and the run's truncated event files removed."""
    with tmpfs(tmp_path / "small", "size=64k") as small:
        done = subprocess.run(
            [sys.executable, "-m", "layerwise", "train", "mlp", "--hidden", "64", "--steps", "4",
             "--eval-every", "1", *QUIET, "--logdir", str(small / "tb")],
            capture_output=True, text=True, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith("layerwise: error: cannot write the TensorBoard events in ")
        assert "the file system is full; the event files of this run were removed" in lines[0]
        assert [p for p in small.rglob("*") if p.is_file()] == []


def test_tensorboard_needs_no_tensorflow(tmp_path):
    """Event files are written by tensorboard's own file layer: TensorFlow, where installed,
    is not imported for them (it took seconds and printed its C++ log lines)."""
    code = ("import sys; from layerwise.monitor import summary_writer; "
            f"w = summary_writer({str(tmp_path / 'run')!r}); w.add_scalar('x', 1.0, 0); "
            "w.close(); print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False" and done.stderr == "", done.stderr
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 1


@pytest.mark.parametrize("flag", ["--checkpoint", "--logdir", "--plots"])
def test_names_too_long_are_refused_naming_the_flag(tmp_path, flag, capsys):
    """A name longer than the file system allows made the first stat() of the path raise
    ENAMETOOLONG: a traceback before any check. Now one sentence naming the flag."""
    value = tmp_path / ("x" * 300) / "run.pt" if flag != "--checkpoint" else \
        tmp_path / ("x" * 300 + ".pt")
    assert main(["train", "softmax", "--steps", "1", *QUIET, flag, str(value)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write {flag} " in err[0], err
    assert "longer than the file system allows (255 bytes)" in err[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("x")]


def test_a_symlink_loop_is_refused_and_kept(tmp_path):
    loop = tmp_path / "loop.pt"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match="symlink that leads back to itself"):
        files.atomic_write_bytes(loop, b"x")
    assert loop.is_symlink()


def test_output_files_are_checked_before_the_work(tmp_path, monkeypatch, capsys):
    """`rbm sample --out` and `data show --out` were checked only when the PNG was written,
    after the Gibbs chains ran; now before anything is loaded, naming --out."""
    import layerwise as lw
    from layerwise.rbm import images, io

    rbm = lw.fit_rbm(lw.RBMConfig(n_hidden=3), torch.rand(20, 4), lw.CDConfig(epochs=1),
                     lw.RunConfig(device="cpu"), progress=False)
    ck = tmp_path / "r.pt"
    io.save(ck, rbm.rbm, rbm.preprocessing)
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(images, "gibbs_samples", lambda *a, **k: pytest.fail("sampled"))
    out = tmp_path / "file" / "s.png"
    assert main(["rbm", "sample", str(ck), "--out", str(out), *QUIET]) == 1
    assert main(["data", "show", "mnist-10k", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith(f"layerwise: error: --out {out.parent}: ") and
                                 "is a file, so the directory cannot be made" in e
                                 for e in err), err


def test_memory_a_flag_or_a_model_asks_for_is_refused_before_it_is_taken(monkeypatch, capsys):
    """rbm sample -n, rbm ais --betas, --shift and the activations of one batch were taken
    from the allocator until it failed (a C++ enforce-fail traceback); each is now refused in
    one sentence, under a budget made small for the test where the request is modest."""
    import layerwise as lw
    from layerwise import memory
    from layerwise.rbm import images, measures
    from layerwise.rbm.model import RBM, RBMConfig

    rbm = RBM(RBMConfig(784, 16), torch.Generator().manual_seed(0))
    with pytest.raises(LayerwiseError, match="-n 1,000,000,000 is more samples than one"):
        images.gibbs_samples(rbm, 10**9, 1, torch.Generator())
    with pytest.raises(LayerwiseError, match="--steps 10,000,000,000,000 is more Gibbs steps"):
        images.gibbs_samples(rbm, 4, 10**13, torch.Generator())  # years, silently
    with pytest.raises(LayerwiseError, match="AIS with 100 runs over 100,000,000,000 temper"):
        measures.ais(rbm, runs=100, betas=10**11)
    assert main(["train", "deepnn", "--shift", "100000", "--steps", "1", *QUIET]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["layerwise: error: --shift must be smaller than the images' side "
                   "(mnist-10k's are 28 x 28), got 100000."]
    # 100,001 coefficients take 1.6 MB with their gradients and moments, but each example's
    # powers x^0..x^100000 take 400 kB: a batch of 50, or the evaluation of 900 examples,
    # is over a budget of 20 MB, refused before any step.
    monkeypatch.setattr(memory, "budget", lambda: (20_000_000, "a test's budget"))
    with pytest.raises(LayerwiseError, match=r"training polynomial on regression with batches "
                                             r"of 50 needs about .* but only 20\.0 MB"):
        lw.fit(lw.ModelConfig(name="polynomial", degree=100_000), "regression",
               lw.TrainConfig(steps=1), lw.RunConfig(device="cpu"), progress=False)


@pytest.mark.parametrize("dtype, values, expect", [
    (np.float32, (0, 255), "float32 pixels with values from 0 to 255; float images take "
                           "values in [0, 1]"),
    (np.float64, (1e300, 1e300), "float64 pixels with values from 1e+300 to 1e+300"),
    (np.float32, (np.nan, 0.5), "float32 pixels with NaN or infinite values"),
    (np.int8, (-128, 127), "negative int8 pixels (down to -128)"),
    (np.int16, (0, 32767), None),
    (np.float64, (0.0, 1.0), None),
])
def test_images_of_every_dtype_are_scaled_by_their_range_or_refused(tmp_path, dtype, values,
                                                                    expect, capsys):
    """Only uint8 images were scaled; the others were used as they were: float images of
    0..255 or 1e300 trained to nonsense, and the run then blamed --lr. Integer pixels are now
    divided by their type's largest value, floats must lie in [0, 1]."""
    from layerwise.data.datasets import load_dataset
    from layerwise.data.idx import write_idx

    x = np.full((12, 28, 28), values[0], dtype=dtype)
    x[:, :14] = values[1]
    y = (np.arange(12) % 10).astype(np.uint8)
    for name, array in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                        ("t10k-images-idx3-ubyte", x[:4]), ("t10k-labels-idx1-ubyte", y[:4])):
        write_idx(tmp_path / name, array)
    if expect is None:
        data = load_dataset(str(tmp_path), val_size=0)
        top = values[1] / (np.iinfo(dtype).max if np.dtype(dtype).kind == "i" else 1)
        assert float(data.train.x.max()) == pytest.approx(top)
        assert 0 <= float(data.train.x.min()) and float(data.train.x.max()) <= 1
        return
    assert main(["train", "softmax", "--steps", "1", "--dataset", str(tmp_path), *QUIET]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path}: the training set holds " in err[0], err
    assert expect in err[0]


@pytest.mark.parametrize("call, names", [
    (lambda lw: lw.fit("softmax", "mnist-10k", {"steps": 2}), "config must be a TrainConfig"),
    (lambda lw: lw.fit("softmax", "mnist-10k", None, {"device": "cpu"}),
     "run must be a RunConfig"),
    (lambda lw: lw.fit({"name": "softmax"}, "mnist-10k"), "model must be a course model's"),
    (lambda lw: lw.fit("softmax", "mnist-10k", checkpoint=123), "checkpoint must be a path"),
    (lambda lw: lw.fit_rbm({"n_hidden": 3}, np.zeros((4, 4))), "model must be a RBMConfig"),
    (lambda lw: lw.fit_rbm(None, np.zeros((4, 4)), {"epochs": 1}), "cd must be a CDConfig"),
    (lambda lw: lw.train_dbn("mnist-10k", {"layers": [10]}), "layers must be a tuple of"),
    (lambda lw: lw.load_model(3), "the checkpoint path must be a string"),
    (lambda lw: lw.load_rbm(None), "the checkpoint path must be a string"),
    (lambda lw: lw.resume_recipe(3), "path must be a path"),
    (lambda lw: lw.load_dataset(3), "the dataset must be named by a string"),
    (lambda lw: lw.load_dataset("mnist-10k", val_size=2.5), "val_size must be a whole"),
])
def test_python_api_misuse_is_a_layerwise_type_error_naming_the_argument(call, names):
    """A dict where a config belongs, a number where a path belongs: AttributeError or
    TypeError from deep inside before; now a ConfigTypeError (a TypeError and a ValueError)
    whose message names the argument, with the spelling that builds a config from a dict."""
    import layerwise as lw

    with pytest.raises(ConfigTypeError) as caught:
        call(lw)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    assert names in str(caught.value)
    if "must be a TrainConfig" in names:
        assert "build one from a dict with TrainConfig(**d)" in str(caught.value)


@pytest.mark.multiprocess
@pytest.mark.parametrize("answer", ["garbage", "close"])
def test_a_rendezvous_that_answers_garbage_is_one_line_without_cpp_frames(answer):
    """An endpoint that answers random bytes made the probe's in-process TCPStore client abort
    the launcher ('terminate called without an active exception', exit -6); one that closes
    each connection printed C++ stack frames. The probe now runs in a child process that is
    killed when --connect-timeout is up: one line, exit 2."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                if answer == "garbage":
                    conn.sendall(os.urandom(4096))
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    endpoint = f"127.0.0.1:{server.getsockname()[1]}"
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "layerwise", "launch", "--nnodes", "2",
                               "--nproc-per-node", "1", "--rdzv-endpoint", endpoint,
                               "--connect-timeout", "2", "--", "train", "softmax"],
                              capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        server.close()
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"layerwise: error: --rdzv-endpoint {endpoint} accepts connections but does not answer "
        "as a torch rendezvous store within 2 s (--connect-timeout); it is another service, "
        "not the first machine's layerwise launch."]
    assert time.monotonic() - start < 60  # torch's import in two processes, then 2 s


@pytest.mark.multiprocess
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals: Linux")
def test_a_rank_whose_torchrun_is_already_gone_ends_at_once():
    """A rank asked for its parent-death signal only once it joined the process group, seconds
    after it started: a launcher killed while its ranks were starting left them running under
    init (a launch of many ranks left hundreds). A rank now asks first thing, and ends at
    once if its parent is no longer torchrun: here its parent is this test."""
    env = {**os.environ, "TORCHELASTIC_RUN_ID": "test"}
    done = subprocess.run([sys.executable, "-m", "layerwise", "--version"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGTERM and done.stdout == "", done
    env.pop("TORCHELASTIC_RUN_ID")
    done = subprocess.run([sys.executable, "-m", "layerwise", "--version"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("layerwise ")


@pytest.mark.parametrize("argv, says", [
    (["train", "softmax", "--timeout", "1e-300"],
     "--timeout must be from 1 to 1e+06 seconds, got 1e-300."),
    (["launch", "--nproc-per-node", "3", "--", "train", "softmax"],
     "--nproc-per-node 3 (ranks of about 250 MB each, before their data) needs about 0.8 GB "
     "but only 0.5 GB"),
    (["launch", "--nproc-per-node", "1", "--nnodes", "2", "--rdzv-endpoint", "127.0.0.1:1",
      "--connect-timeout", "1e-300", "--", "train", "softmax"],
     "--join-timeout and --connect-timeout must be from 1 to 1e+06 seconds"),
])
def test_distributed_settings_out_of_range_are_refused_before_anything_starts(
        argv, says, monkeypatch, capsys):
    """--timeout 1e-300 was accepted (every collective would time out at once), and
    --nproc-per-node 100000 started torchrun, which forked ranks until the machine ran out of
    memory. The ranks' memory is checked against the budget (made small here, so that a
    regression starts three small ranks, not thousands) and nothing is launched."""
    from layerwise import memory
    from layerwise.distributed import launcher

    monkeypatch.setattr(memory, "budget", lambda: (500_000_000, "a test's budget"))
    monkeypatch.setattr(launcher, "run", lambda *a, **k: pytest.fail("the job was launched"))
    assert main([*argv, *QUIET] if argv[0] == "train" else argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


@pytest.fixture(scope="module")
def supervised_checkpoint(tmp_path_factory) -> Path:
    import layerwise as lw

    path = tmp_path_factory.mktemp("sup") / "sup.pt"
    lw.fit("softmax", "mnist-10k", lw.TrainConfig(steps=2), lw.RunConfig(device="cpu"),
           checkpoint=str(path), progress=False)
    return path


@pytest.mark.parametrize("damage, says", [
    (lambda p: p["optimizer"].update(state={0: {"step": "x"}}),
     "its optimizer state cannot be restored"),
    (lambda p: p.pop("rng"), "its 'torch' random generator state is missing"),
    (lambda p: p["rng"].update(torch=torch.zeros(3)), "its 'torch' random generator state"),
    (lambda p: p["rng"].update(batches=torch.zeros(7, dtype=torch.uint8)),
     "its 'batches' random generator state"),
    (lambda p: p.pop("train"), "holds a model without its training state"),
    (lambda p: p.pop("optimizer"), "holds a model without its training state"),
    (lambda p: p["extra"].update(classes=5), "its extra 'classes' is 5, not names"),
    (lambda p: p.update(model={}), "its model entry has no 'name'"),
])
def test_a_checkpoint_whose_run_state_is_damaged_cannot_be_resumed(supervised_checkpoint,
                                                                   tmp_path, damage, says):
    """Keys that only a resumed run reads (optimizer state, generator states) passed the load
    check and failed inside torch (KeyError 'rng', 'RNG state must be a torch.ByteTensor', a
    ValueError from the optimizer); a missing recipe resumed silently with the defaults."""
    import layerwise as lw

    payload = torch.load(supervised_checkpoint, weights_only=True)
    damage(payload)
    path = tmp_path / "damaged.pt"
    torch.save(payload, path)
    with pytest.raises(DataError, match=says) as caught:
        lw.fit("softmax", "mnist-10k", lw.TrainConfig(steps=4),
               lw.RunConfig(device="cpu", resume=str(path)), progress=False)
    assert str(path) in str(caught.value)


def test_torchs_refusal_of_a_file_is_its_first_sentence(tmp_path, supervised_checkpoint):
    from layerwise.checkpoint import load_checkpoint

    cut = tmp_path / "cut.pt"
    cut.write_bytes(supervised_checkpoint.read_bytes()[:2000])
    with pytest.raises(DataError) as caught:
        load_checkpoint(cut)
    assert str(caught.value) == (f"{cut} is not a readable layerwise checkpoint "
                                 "(PytorchStreamReader failed reading zip archive: failed "
                                 "finding central directory).")


def test_a_file_that_is_no_checkpoint_at_all_is_named_so(tmp_path):
    """A text file given as a checkpoint said "(KeyError: 101)", torch's unpickler failing on
    the letter e."""
    from layerwise.checkpoint import load_checkpoint

    text = tmp_path / "notes.pt"
    text.write_text("hello world\n")
    with pytest.raises(DataError) as caught:
        load_checkpoint(text)
    assert str(caught.value) == (f"{text} is not a checkpoint: checkpoints are the zip "
                                 "archives torch writes, and this file begins "
                                 "b'hello world\\n'.")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="this file is empty"):
        load_checkpoint(empty)


@pytest.mark.parametrize("model, data, says", [
    ("softmax", "regression", "softmax is a classifier, but regression holds real-valued "
                              "targets (regression); train polynomial on it"),
    ("mlp", "lab4", "mlp is a classifier, but lab4 holds real-valued targets"),
    ("polynomial", "mnist-10k", "polynomial fits a real-valued target of one real input "
                                "(N, 1), but mnist-10k holds class labels"),
])
def test_a_model_given_data_of_the_wrong_kind_is_one_sentence_naming_both(model, data, says):
    """A course classifier given a regression dataset trained with the squared error and
    reported a 'test mse' (exit 0); polynomial given images failed in a tensor broadcast."""
    import layerwise as lw

    with pytest.raises(DataError) as caught:
        lw.fit(model, data, lw.TrainConfig(steps=1), lw.RunConfig(device="cpu"),
               progress=False)
    assert says in str(caught.value) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("call, names", [
    (lambda lw: lw.fit("mlp", "mnist-10k", lw.TrainConfig(steps=1), freeze=1.5),
     "freeze must be a whole number of layers, got 1.5"),
    (lambda lw: lw.fit_rbm(None, np.zeros((4, 4)), binarize="yes"),
     "binarize must be a bool or None, got 'yes'"),
    (lambda lw: lw.learning_curve("softmax", "mnist-10k", {"steps": 1}, [10], "out"),
     "config must be a TrainConfig"),
    (lambda lw: lw.save_model(torch.nn.Linear(2, 2), 3), "path must be a path"),
])
def test_more_python_api_misuse_names_the_argument(call, names):
    """freeze=1.5 was a slice TypeError inside the model, binarize='yes' was taken as True, a
    dict config of learning_curve an AttributeError, save_model to 3 pathlib's TypeError."""
    import layerwise as lw

    with pytest.raises(ConfigTypeError, match=names):
        call(lw)


def test_a_directory_given_as_a_checkpoint_is_named_so(tmp_path):
    import layerwise as lw

    with pytest.raises(DataError, match="is a directory, not a checkpoint file"):
        lw.load_model(tmp_path)


def test_a_bad_flag_of_a_launched_command_is_refused_before_torchrun(monkeypatch, capsys):
    """`launch -- train nosuchmodel` started torchrun and every rank printed argparse's usage,
    then launch its summary (34 lines, exit 1); the command is parsed first now: argparse's
    usage and one error line, exit 2, nothing started."""
    from layerwise.distributed import launcher

    monkeypatch.setattr(launcher, "run", lambda *a, **k: pytest.fail("the job was launched"))
    with pytest.raises(SystemExit) as caught:
        main(["launch", "--nproc-per-node", "2", "--", "train", "nosuchmodel"])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: layerwise train ")
    assert err[-1].startswith("layerwise train: error: argument model: invalid choice: "
                              "'nosuchmodel'")


def test_rbm_build_model_and_evaluate_name_a_misused_argument():
    import torch
    from torch import nn

    from layerwise.errors import ConfigTypeError
    from layerwise.nn.models import build_model
    from layerwise.rbm.model import RBM
    from layerwise.train.trainer import evaluate

    with pytest.raises(ConfigTypeError, match=r"cfg.*RBMConfig\(\*\*d\)"):
        RBM({"n_visible": 4, "n_hidden": 2})
    with pytest.raises(ConfigTypeError, match=r"cfg.*ModelConfig\(\*\*d\)"):
        build_model({"name": "softmax"})
    with pytest.raises(ConfigTypeError, match=r"split.*a Split"):
        evaluate(nn.Linear(2, 2), "mnist-10k", "classification")
    assert isinstance(RBM(__import__("layerwise").RBMConfig(4, 2)).W, torch.Tensor)
