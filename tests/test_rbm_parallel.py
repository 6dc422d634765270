"""The parallel RBM: K gloo ranks on loopback against one rank, shards, faults, comm table."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import layerwise.rbm
from conftest import run_ranks, start_ranks
from layerwise.cli.main import main
from layerwise.distributed.bits import pack_bits, unpack_bits
from layerwise.rbm.blocks import Partition

WORKER = str(Path(__file__).parent / "workers" / "rbm_parallel_worker.py")
LAYERWISE = [sys.executable, "-m", "layerwise"]
SMALL = ["--dataset", "random-binary:n=400,visible=40", "--hidden", "24", "--batch-size", "20"]


def _worker(tmp_path, ranks, algorithm, visible="binary", sync_every=4):
    out = tmp_path / f"{algorithm}-{visible}-{ranks}.pt"
    results = run_ranks([sys.executable, WORKER, algorithm, visible, str(sync_every), str(out)],
                        ranks)
    for code, _, err in results:
        assert code == 0, err[-2000:]
    return torch.load(out, weights_only=True)


def test_bits_round_trip_and_partition():
    x = (torch.rand(7, 13, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    packed = pack_bits(x)
    assert packed.dtype == torch.uint8 and len(packed) == (7 * 13 + 7) // 8
    assert torch.equal(unpack_bits(packed, (7, 13), torch.float64), x.double())
    part = Partition(n=100, blocks=48, ranks=5)
    assert sum(part.sizes()) == 100 and part.units(0).start == 0 and part.units(4).stop == 100
    assert all(part.units(k).stop == part.units(k + 1).start for k in range(4))


@pytest.mark.parametrize("algorithm,ranks", [("model", 2), ("model", 4), ("data", 2),
                                             ("visible", 3)])
@pytest.mark.multiprocess
def test_binary_k_ranks_equal_one_rank_bit_for_bit(tmp_path, algorithm, ranks):
    one = _worker(tmp_path, 1, "model")
    many = _worker(tmp_path, ranks, algorithm)
    for name in ("W", "b_vis", "b_hid"):
        assert torch.equal(many[name], one[name]), name
    if algorithm == "model":
        # Binary states make every update an exact integer sum: the copies never drift.
        assert len(many["sync_log"]) > 0 and float(many["sync_log"].max()) == 0.0
        assert float(many["gap_before_sync"]) == 0.0


@pytest.mark.multiprocess
def test_gaussian_model_parallel_within_rounding_and_synced_copies_equal(tmp_path):
    one = _worker(tmp_path, 1, "model", "gaussian")
    many = _worker(tmp_path, 3, "model", "gaussian", sync_every=0)
    # Float visible states: products of different shapes round differently, nothing more.
    torch.testing.assert_close(many["W"], one["W"], rtol=0, atol=1e-9)
    torch.testing.assert_close(many["b_vis"], one["b_vis"], rtol=0, atol=1e-9)
    assert float(many["gap_before_sync"]) < 1e-9
    assert float(many["gap_after_sync"]) == 0.0


@pytest.mark.multiprocess
def test_cli_under_torchrun_matches_single_process_and_counts_bytes(tmp_path):
    single, parallel = tmp_path / "one.pt", tmp_path / "two.pt"
    assert main(["rbm", "train", *SMALL, "--epochs", "2", "--parallel", "model", "--save",
                 str(single)]) == 0
    run = subprocess.run(["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "layerwise",
                          "rbm", "train", *SMALL, "--epochs", "2", "--parallel", "model",
                          "--save", str(parallel), "--json"],
                         capture_output=True, text=True, timeout=180,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["ranks"] == 2 and figures["parallel"] == "model"
    # 360 training examples (40 of 400 held out), 24 hidden (2 x 12), 40 visible (2 x 20):
    # each rank sends 360 x (12 + 12 + 20) bits = 1,980 bytes per epoch, and the model
    # predicts exactly their sum.
    assert figures["sent_bytes_per_epoch"] == [1980.0, 1980.0]
    assert figures["model_bytes_per_epoch"] == 3960
    a, b = layerwise.rbm.load(single), layerwise.rbm.load(parallel)
    assert torch.equal(a.W, b.W) and torch.equal(a.b_hid, b.b_hid)


@pytest.mark.multiprocess
def test_sharded_checkpoint_resumes_exactly_with_same_ranks(tmp_path):
    shards = tmp_path / "shards"
    args = [*LAYERWISE, "rbm", "train", *SMALL, "--parallel", "model", "--sync-every", "3"]
    straight = tmp_path / "straight.pt"
    for code, _, err in run_ranks([*args, "--epochs", "3", "--save", str(straight)], 2):
        assert code == 0, err
    for code, _, err in run_ranks([*args, "--epochs", "1", "--shards", str(shards)], 2):
        assert code == 0, err
    manifest = json.loads((shards / "manifest.json").read_text())
    assert manifest["epoch"] == 1 and len(manifest["files"]) == 2
    # What a run killed while writing epoch 2 leaves: one rank's shard of an epoch the manifest
    # does not name, and the other's temporary file (its writer, pid 999999999, is gone).
    (shards / "shard-000-of-002.e0002.pt").write_bytes(b"not named by the manifest")
    (shards / ".shard-001-of-002.e0002.pt.999999999.x1.part").write_bytes(b"half written")
    resumed = tmp_path / "resumed.pt"
    for code, _, err in run_ranks([*args, "--epochs", "3", "--resume", str(shards), "--shards",
                                   str(shards), "--save", str(resumed)], 2):
        assert code == 0, err
    assert sorted(p.name for p in shards.glob("*shard-*")) == [
        "shard-000-of-002.e0003.pt", "shard-001-of-002.e0003.pt"]
    a, b = layerwise.rbm.load(straight), layerwise.rbm.load(resumed)
    assert torch.equal(a.W, b.W) and torch.equal(a.b_vis, b.b_vis)
    # Another number of ranks cannot take the shards over.
    code = main(["rbm", "train", *SMALL, "--epochs", "4", "--parallel", "model",
                 "--resume", str(shards)])
    assert code == 2


@pytest.mark.multiprocess
@pytest.mark.parametrize("fault", ["kill", "stall"])
def test_a_dead_or_stalled_rank_stops_the_others_with_a_message(tmp_path, fault):
    timeout = 4
    procs = start_ranks([*LAYERWISE, "rbm", "train", "--dataset",
                         "random-binary:n=400,visible=200", "--hidden", "200", "--batch-size",
                         "10", "--epochs", "100000", "--parallel", "model", "--timeout",
                         str(timeout)], 2)
    survivor, victim = procs
    try:
        line = survivor.stdout.readline()  # the first epoch's line: training is under way
        assert line.startswith("epoch"), survivor.stderr.read()
        started = time.monotonic()
        victim.send_signal(signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        _, err = survivor.communicate(timeout=timeout + 60)
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert survivor.returncode == 1
    assert "rank 0 of 2:" in err and "--timeout" in err and "Traceback" not in err
    if fault == "stall":
        assert timeout - 1 <= elapsed <= timeout + 30


def test_comm_table_reproduces_the_report(capsys):
    assert main(["rbm", "comm-table", "--json"]) == 0
    t = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    mb = {(r["algorithm"], r["visible"], r["precision"]): [b / 1e6 for b in r["bytes"]]
          for r in t["rows"]}
    assert mb["model", "binary", "float32"] == [0, 48, 144, 336]
    assert mb["model", "gaussian", "float32"] == [0, 296, 888, 2072]
    assert mb["model", "gaussian", "float64"] == [0, 552, 1656, 3864]
    assert [q["holds"] for q in t["inequality"]] == [False] * 4
    assert main(["rbm", "comm-table", "--batch-size", "2000", "--ranks", "8", "--json"]) == 0
    t = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert t["inequality"][0]["holds"]  # the report: K = 8 with large mini-batches
