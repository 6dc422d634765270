"""Faults a real run meets, each forced deterministically: a signal inside `torch.save`, a full
or read-only file system, outputs that are not regular files, checkpoints that are not what they
claim, memory a file or a flag asks for. Each ends in one layerwise sentence, the old file intact
and nothing partial left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import tmpfs
from layerwise import signals
from layerwise.checkpoint import load_checkpoint, save_checkpoint
from layerwise.data import files
from layerwise.errors import DataError, LayerwiseError, Terminated
from layerwise.memory import budget, check_fits

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _save(path, value: float = 1.0):
    return save_checkpoint(path, kind="supervised", model_config={"name": "softmax"},
                           state={"w": torch.full((64, 64), value)}, step=3)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("sig, raised", [(signal.SIGTERM, Terminated),
                                         (signal.SIGHUP, Terminated),
                                         (signal.SIGINT, KeyboardInterrupt)])
def test_a_signal_inside_torch_save_unwinds_cleanly(tmp_path, monkeypatch, sig, raised):
    """The signal arrives from inside torch's write callback (a hook in the writer, not a
    sleep): it is held until torch.save returns, then raised as the command's own exception;
    the previous checkpoint is intact and no temporary file is left."""
    path = tmp_path / "run.pt"
    _save(path, 1.0)
    real_write, sent = files.RecordingWriter.write, []

    def write_then_signal(self, data):
        if not sent:
            sent.append(sig)
            os.kill(os.getpid(), sig)
        return real_write(self, data)

    monkeypatch.setattr(files.RecordingWriter, "write", write_then_signal)
    previous = signals.install()
    try:
        with pytest.raises(raised) as caught:
            _save(path, 2.0)
    finally:
        signals.restore(previous)
    assert sent == [sig]
    if raised is Terminated:
        assert caught.value.args == (sig,)
    assert float(load_checkpoint(path)["state"]["w"][0, 0]) == 1.0
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not ROOT, reason="mounting a small tmpfs needs root")
def test_a_full_file_system_is_one_sentence_and_no_partial_file(tmp_path):
    with tmpfs(tmp_path / "small", "size=64k") as small:
        with pytest.raises(DataError, match="file system is full; nothing was written"):
            save_checkpoint(small / "big.pt", kind="supervised", model_config={"n": 1},
                            state={"w": torch.zeros(100_000)})
        assert list(small.iterdir()) == []


@pytest.mark.skipif(not ROOT, reason="mounting a read-only tmpfs needs root")
def test_a_read_only_file_system_is_one_sentence(tmp_path):
    with tmpfs(tmp_path / "ro", "size=64k,ro") as ro:
        with pytest.raises(DataError, match=r"read-only|not writable"):
            _save(ro / "run.pt")
        assert list(ro.iterdir()) == []


def test_outputs_that_are_not_regular_files_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        _save(fifo)
    assert fifo.exists() and not fifo.is_file()
    with pytest.raises(DataError, match="is a directory"):
        _save(tmp_path)
    with pytest.raises(DataError, match="longer than the file system allows"):
        _save(tmp_path / ("x" * 300 + ".pt"))
    assert _leftovers(tmp_path) == []


def test_a_symlinked_output_is_written_through_to_its_target(tmp_path):
    target, link = tmp_path / "real.pt", tmp_path / "link.pt"
    _save(target, 1.0)
    link.symlink_to(target)
    _save(link, 2.0)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert float(load_checkpoint(target)["state"]["w"][0, 0]) == 2.0


def test_a_checkpoint_that_holds_code_is_refused_in_one_sentence(tmp_path):
    class Runs:
        def __reduce__(self):
            return (print, ("this would run",))

    path = tmp_path / "code.pt"
    torch.save({"format": "layerwise-checkpoint", "version": 1, "model": Runs()}, path)
    with pytest.raises(DataError, match="holds code, not only tensors; refused") as caught:
        load_checkpoint(path)
    assert "weights_only" not in str(caught.value)


def test_a_compressed_archive_is_refused_before_it_is_inflated(tmp_path):
    """A small file whose one storage inflates to 200 MB: torch.save never compresses, so
    this is refused from the zip directory alone."""
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", bytes(200_000_000))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DataError, match="compressed entries"):
        load_checkpoint(path)


def test_a_checkpoint_with_non_finite_weights_or_a_bad_step_is_refused(tmp_path):
    path = tmp_path / "nan.pt"
    save_checkpoint(path, kind="supervised", model_config={"name": "softmax"},
                    state={"w": torch.tensor([1.0, float("nan")])})
    with pytest.raises(DataError, match=r"non-finite weights \(NaN or infinity in w\)"):
        load_checkpoint(path)
    save_checkpoint(path, kind="supervised", model_config={"name": "softmax"},
                    state={"w": torch.ones(2)}, step=-4)
    with pytest.raises(DataError, match="its step is -4"):
        load_checkpoint(path)


def test_the_memory_budget_honours_the_address_space_limit():
    """`ulimit -v` bounds the budget (a child process, so this one's limit is untouched), and
    a request above the budget is one sentence naming what asked for it."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30)); "
            "from layerwise.memory import budget; print(*budget(), sep='|')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    left, which = done.stdout.strip().split("|")
    assert which == "the address-space limit (ulimit -v)" and 0 < int(left) < 6 << 30
    left, _ = budget()
    assert left is not None and left > 0
    with pytest.raises(LayerwiseError, match="an RBM of 1e9 x 1e9 needs about") as caught:
        check_fits(left + 1, "an RBM of 1e9 x 1e9")
    assert isinstance(caught.value, ValueError)


def test_a_pickle_of_millions_of_tiny_objects_is_refused_unread():
    """58 KB of gzip can hold millions of EMPTY_LIST opcodes, gigabytes as Python objects: the
    object count is bounded before anything is built, not only the inflated bytes."""
    import gzip

    from layerwise.data.safe_pickle import MAX_OBJECTS, load_arrays_pickle

    stream = b"\x80\x02(" + b"]" * (3 * MAX_OBJECTS) + b"l."
    assert len(gzip.compress(stream)) < 5_000
    with pytest.raises(DataError, match=f"more than {MAX_OBJECTS:,} objects"):
        load_arrays_pickle(stream, "bomb.pkl.gz", "MNIST pickle")


def _marked(mark: str) -> list[int]:
    """The live processes whose environment carries `mark` (a launcher, torchrun, its ranks)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if mark.encode() in environ.read_bytes():
                stat = (environ.parent / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    pids.append(int(environ.parent.name))
    return pids


@pytest.mark.multiprocess
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals: Linux")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_launcher_takes_torchrun_and_every_rank_with_it(tmp_path, sig):
    """SIGKILL reaches no handler of the launcher's: torchrun and the ranks end through their
    parent-death signal within seconds; SIGHUP goes through the launcher's own handler, which
    stops the ranks and removes its log directory."""
    import time
    import uuid

    before = set(Path(tempfile_dir()).glob("layerwise-launch-*"))
    mark = f"LAYERWISE_TEST_MARK={uuid.uuid4().hex}"
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-m", "layerwise", "launch", "--nproc-per-node", "2",
                             "--", "train", "mlp", "--hidden", "32", "--steps", "1000000",
                             "--device", "cpu", "--quiet", "--checkpoint",
                             str(tmp_path / "ck.pt")], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(_marked(mark)) < 4 and time.monotonic() < deadline:  # launcher, agent, 2
            time.sleep(0.5)
        assert len(_marked(mark)) >= 4, "the job did not start"
        time.sleep(3)  # the ranks are training
        os.kill(proc.pid, sig)
        # SIGKILL: the parent-death signals act at once; SIGHUP: the launcher stops torchrun,
        # which stops its ranks (seconds, more on a loaded machine)
        deadline = time.monotonic() + (15 if sig == signal.SIGKILL else 45)
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _marked(mark) == [], "processes of the job outlived the launcher"
        _, err = proc.communicate(timeout=30)
        if sig == signal.SIGHUP:
            lines = [ln for ln in err.splitlines() if not ln.startswith("launch: 2 rank(s)")]
            assert len(lines) == 1 and "terminated (SIGHUP)" in lines[0], err
            assert proc.returncode == 128 + signal.SIGHUP
            assert set(Path(tempfile_dir()).glob("layerwise-launch-*")) <= before
    finally:
        # SIGKILL leaves the launcher no moment to remove its temporary log directory
        for left in set(Path(tempfile_dir()).glob("layerwise-launch-*")) - before:
            shutil.rmtree(left, ignore_errors=True)
        for pid in _marked(mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_a_rendezvous_that_is_not_a_store_ends_within_the_connect_timeout(capsys):
    """An endpoint that accepts TCP connections and says nothing (here a bare socket) would
    hang torchrun past every timeout: launch refuses it within --connect-timeout."""
    import socket
    import threading
    import time

    from layerwise.cli.main import main

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port, held = server.getsockname()[1], []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)],
                     daemon=True).start()
    start = time.monotonic()
    try:
        code = main(["launch", "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-endpoint",
                     f"127.0.0.1:{port}", "--connect-timeout", "2", "--", "train", "softmax"])
    finally:
        server.close()
    assert code == 2 and time.monotonic() - start < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not answer as a torch rendezvous store within 2 s" in err[0]


def test_standard_output_closed_early_is_one_sentence():
    """`layerwise rbm comm-table | head -c 10` with the reader gone before the first write:
    one line and exit 1, no BrokenPipeError traceback (at exit either)."""
    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run([sys.executable, "-m", "layerwise", "rbm", "comm-table"],
                              stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "layerwise: error: standard output was closed before the output ended (the reader "
        "went away); nothing else was affected."]


def test_a_second_run_on_the_same_checkpoint_is_refused_naming_the_first(tmp_path):
    """While one run holds `--checkpoint X`, another given X is refused at once in one line
    that names the first (its pid); once the first ends, X is free again and no lock is left."""
    from layerwise.checkpoint import claim

    path = tmp_path / "run.pt"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from layerwise.checkpoint import claim\n"
         f"with claim({str(path)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataError, match=rf"being written by another layerwise run "
                                            rf"\(pid {holder.pid} on "), claim(path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with claim(path):
        assert (tmp_path / ".run.pt.lock").exists()
    assert list(tmp_path.iterdir()) == []


def _rbm_checkpoint(tmp_path) -> Path:
    import layerwise as lw

    x = (torch.rand(40, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    path = tmp_path / "rbm.pt"
    lw.fit_rbm(lw.RBMConfig(n_hidden=3), x, lw.CDConfig(epochs=1, batch_size=20),
               lw.RunConfig(device="cpu"), checkpoint=str(path), progress=False)
    return path


@pytest.mark.parametrize("damage, says", [
    (lambda p: p.update(model={}), "its model entry has no 'n_visible'"),
    (lambda p: p["model"].update(colour="blue"), "unknown key 'colour'"),
    (lambda p: p["model"].update(n_hidden="many"), "stored model is invalid"),
    (lambda p: p.update(train=[1, 2]), "its train entry is a list"),
    (lambda p: p["train"].update(lr="fast"), "stored recipe is invalid"),
    (lambda p: p.update(step=2.5), "its step is 2.5"),
])
def test_a_damaged_rbm_checkpoint_is_one_sentence_naming_the_key(tmp_path, damage, says):
    from layerwise.rbm import io
    from layerwise.resume import resume_recipe

    path = _rbm_checkpoint(tmp_path)
    payload = torch.load(path, weights_only=True)
    damage(payload)
    torch.save(payload, path)
    attempts = [lambda: resume_recipe(str(path))]
    if "recipe" not in says:  # loading for inference needs the model, not the recipe
        attempts.append(lambda: io.load(path))
    for attempt in attempts:
        with pytest.raises(DataError, match=says):
            attempt()


@pytest.mark.parametrize("damage, says", [
    (lambda m: m.update(files=[]), "its 'files' is"),
    (lambda m: m.pop("epoch"), "its 'epoch' is None"),
    (lambda m: m.update(ranks=True), "its 'ranks' is True"),
    (lambda m: m.update(files=["../../etc/passwd"]), "shard file names"),
    (lambda m: m.update(parallel={"algorithm": "magic"}), "stored parallel is invalid"),
])
def test_a_damaged_shard_manifest_is_one_sentence_naming_the_key(tmp_path, damage, says):
    import json

    from layerwise.rbm import shards

    manifest = {"format": shards.SHARDS_FORMAT, "version": 1, "ranks": 1, "epoch": 1,
                "model": {"n_visible": 6, "n_hidden": 3, "visible": "binary"},
                "train": {}, "parallel": {}, "dataset": "x", "files": ["shard-0.pt"]}
    (tmp_path / shards.MANIFEST).write_text(json.dumps(manifest))
    assert shards.read_manifest(tmp_path)["ranks"] == 1
    damage(manifest)
    (tmp_path / shards.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=says):
        shards.read_manifest(tmp_path)


def test_a_raw_idx_file_is_checked_by_its_header_before_it_is_read(tmp_path):
    """An uncompressed IDX file is read only if its length is what its header declares (a
    sparse 4 GB file is refused at once, unread), and a gzip one whose header declares more
    than the memory budget is refused before it is inflated."""
    import gzip
    import time

    from layerwise.data.idx import read_idx

    big = tmp_path / "train-images-idx3-ubyte"
    with open(big, "wb") as f:
        f.write(b"\0\0\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
        f.truncate(4 << 30)
    start = time.monotonic()
    with pytest.raises(DataError, match="longer than its header says: its header declares "
                                        "7,856 bytes"):
        read_idx(big)
    assert time.monotonic() - start < 2
    huge = tmp_path / "huge-idx3-ubyte.gz"
    huge.write_bytes(gzip.compress(b"\0\0\x08\x03" + (1 << 30).to_bytes(4, "big") * 3))
    with pytest.raises(DataError, match="inflating .* needs about"):
        read_idx(huge)


def _supervised_checkpoint(tmp_path) -> Path:
    import layerwise as lw

    path = tmp_path / "sup.pt"
    lw.fit("softmax", "mnist-10k", lw.TrainConfig(steps=2), lw.RunConfig(device="cpu"),
           checkpoint=str(path), progress=False)
    return path


_ODD_VALUES = [None, True, -1, 0, 2.5, float("nan"), "x", "", [], [1, "a"], {}, {"a": 1},
               torch.zeros(2), torch.full((1,), float("inf"))]


def test_property_damaged_checkpoints_give_only_layerwise_errors(tmp_path):
    """Whatever key of a real checkpoint (top level, or inside its model and recipe entries) is
    removed or given an odd value, loading it for inference or reading its recipe for a resume
    either works or raises a layerwise error: never a KeyError, TypeError or IndexError from
    deep inside."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from layerwise.rbm import io
    from layerwise.resume import resume_recipe
    from layerwise.train.saving import load_model

    sources = {"rbm": _rbm_checkpoint(tmp_path), "supervised": _supervised_checkpoint(tmp_path)}
    originals = {k: torch.load(p, weights_only=True) for k, p in sources.items()}
    readers = {"rbm": (io.load, resume_recipe), "supervised": (load_model, resume_recipe)}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(sorted(sources)), where=st.sampled_from(["", "model", "train"]),
           pick=st.integers(0, 50), value=st.sampled_from(_ODD_VALUES), remove=st.booleans())
    def damaged(kind, where, pick, value, remove):
        import copy

        payload = copy.deepcopy(originals[kind])
        target = payload if not where else payload.get(where)
        if not isinstance(target, dict) or not target:
            return
        key = sorted(target)[pick % len(target)]
        if remove:
            del target[key]
        else:
            target[key] = value
        path = tmp_path / f"damaged-{kind}.pt"
        torch.save(payload, path)
        for read in readers[kind]:
            with contextlib.suppress(LayerwiseError):
                read(str(path))

    damaged()


def test_init_refuses_weights_of_another_architecture(tmp_path, capsys):
    """--init with a checkpoint of another model used to replace the model asked for silently;
    it is refused naming both, and the same architecture still starts from the weights."""
    from layerwise.cli.main import main

    ck = tmp_path / "mlp16.pt"
    base = ["--steps", "2", "--device", "cpu", "--quiet"]
    assert main(["train", "mlp", "--hidden", "16", *base, "--checkpoint", str(ck)]) == 0
    assert main(["train", "softmax", "--init", str(ck), *base]) == 2
    assert main(["train", "mlp", "--hidden", "32", "--init", str(ck), *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "of a mlp model of another architecture than the softmax asked for" in err[0]
    assert "hidden (16,) there, (32,) here" in err[1]
    assert main(["train", "mlp", "--hidden", "16", "--init", str(ck), *base]) == 0


def test_zero_steps_with_a_checkpoint_writes_the_initial_state(tmp_path):
    """`train --steps 0 --checkpoint X` wrote nothing (the RBM equivalent wrote one): now X
    holds the untrained model at step 0, and a resume from it equals a run from scratch."""
    import layerwise as lw

    ck = tmp_path / "zero.pt"
    cfg, run = lw.TrainConfig(steps=0), lw.RunConfig(device="cpu")
    lw.fit("softmax", "mnist-10k", cfg, run, checkpoint=str(ck), progress=False)
    assert load_checkpoint(ck)["step"] == 0
    resumed = lw.fit("softmax", "mnist-10k", lw.TrainConfig(steps=5),
                     lw.RunConfig(device="cpu", resume=str(ck)), progress=False)
    fresh = lw.fit("softmax", "mnist-10k", lw.TrainConfig(steps=5), run, progress=False)
    for a, b in zip(resumed.model.parameters(), fresh.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not ROOT, reason="mounting a read-only tmpfs needs root")
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys):
    """A --logdir, --plots or --checkpoint on a read-only file system was found only when the
    run first wrote there (TensorBoard: after the whole run); now before training starts."""
    from layerwise.cli.main import main

    with tmpfs(tmp_path / "ro", "size=64k,ro") as ro:
        base = ["train", "softmax", "--steps", "100000", "--device", "cpu", "--quiet"]
        for flag, value in (("--logdir", ro / "tb"), ("--plots", ro / "plots"),
                            ("--checkpoint", ro / "sub" / "ck.pt")):
            assert main([*base, flag, str(value)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 3 and all("is on a read-only file system" in e for e in err), err
        assert list(ro.iterdir()) == []
