"""`layerwise launch` builds the torchrun command line; the scaling benchmarks' arithmetic."""

import sys

import pytest

from layerwise.bench.distributed import ideal_speedup, rank_counts
from layerwise.cli.launch_cmd import torchrun_argv
from layerwise.cli.main import build_parser, main


def _argv(*flags):
    return torchrun_argv(build_parser().parse_args(["launch", *flags]))


def test_one_machine_takes_a_free_port():
    argv = _argv("--nproc-per-node", "2", "--", "train", "mlp", "--steps", "3")
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in argv and "--master-port" not in argv
    assert argv[argv.index("-m", 3):] == ["-m", "layerwise", "train", "mlp", "--steps", "3"]


def test_several_machines_meet_at_the_endpoint():
    argv = _argv("--nnodes", "2", "--nproc-per-node", "8", "--rdzv-endpoint", "10.0.0.1:29400",
                 "--", "rbm", "train", "--parallel", "model")
    assert "--standalone" not in argv
    assert argv[argv.index("--rdzv-endpoint") + 1] == "10.0.0.1:29400"
    assert argv[argv.index("--rdzv-backend") + 1] == "c10d"
    assert argv[argv.index("--nnodes") + 1] == "2"


@pytest.mark.parametrize("flags", [["--nproc-per-node", "2"],
                                   ["--nnodes", "2", "--nproc-per-node", "2", "--", "train"],
                                   ["--nproc-per-node", "0", "--", "train"]])
def test_bad_launch_flags_get_one_sentence(flags, capsys):
    assert main(["launch", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error:") and err.count("\n") == 1


def test_scaling_arithmetic():
    assert rank_counts(2, None) == ([1, 2], 1)
    assert rank_counts(16, None) == ([1, 2, 4, 8, 16], 1)
    assert rank_counts(16, [1, 2, 4]) == ([1, 2, 4], 4)
    # One rank computes the weight statistics once (5 products), K >= 2 twice for the
    # duplicated weights (7 products of 1/K the size): 1 -> 2 is at best 10/7.
    assert ideal_speedup(1) == pytest.approx(10 / 7) and ideal_speedup(4) == 2.0


def test_comm_table_rejects_bad_ranks(capsys):
    assert main(["rbm", "comm-table", "--ranks", "2,x"]) == 2
    assert "--ranks" in capsys.readouterr().err


def test_rbm_parallel_bench_reports_speed_up_efficiency_and_ideal(monkeypatch, tmp_path, capsys):
    from layerwise.bench import distributed

    seconds = {1: 20.0, 2: 14.0, 4: 7.5}
    commands = []

    def fake_job(ranks, threads, command, timeout=3600):
        commands.append((ranks, threads, command))
        return {"history": [{"seconds": 99.0}, {"seconds": seconds[ranks]}]}

    monkeypatch.setattr(distributed, "run_job", fake_job)
    assert main(["bench", "rbm-parallel", "--ranks", "1,2,4", "--cores", "4", "--examples",
                 "100", "--batch-sizes", "50", "--precisions", "float32", "--visible-types",
                 "binary", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert [(k, t) for k, t, _ in commands] == [(1, 1), (2, 1), (4, 1)]
    assert "--batch-size" in commands[0][2] and "50" in commands[0][2]
    rows = [line.split() for line in out.splitlines() if line.startswith("binary")]
    # the last epoch of each job is timed: 20 -> 14 -> 7.5
    assert rows[0][4:] == ["20.00", f"{20 / 14:.2f}", f"{20 / 14 / 2:.0%}", f"{10 / 7:.2f}"]
    assert rows[1][4:] == ["14.00", f"{14 / 7.5:.2f}", f"{14 / 7.5 / 2:.0%}", "2.00"]
    assert rows[2][4:] == ["7.50"]
    assert (tmp_path / "rbm-parallel.png").read_bytes()[:4] == b"\x89PNG"
    assert "--lr" not in commands[0][2]        # binary units: the default learning rate
    commands.clear()
    assert main(["bench", "rbm-parallel", "--ranks", "1", "--cores", "1", "--examples", "100",
                 "--batch-sizes", "50", "--precisions", "float32", "--visible-types",
                 "gaussian", "--out", str(tmp_path)]) == 0
    command = commands[0][2]
    assert command[command.index("--lr") + 1] == "1e-4"   # one that does not diverge


@pytest.mark.multiprocess
def test_launch_says_where_it_runs_without_torchruns_banner(tmp_path):
    import os
    import subprocess

    done = subprocess.run([sys.executable, "-m", "layerwise", "launch", "--nproc-per-node", "2",
                           "--", "train", "softmax", "--steps", "4", "--device", "cpu",
                           "--quiet"], capture_output=True, text=True, timeout=180,
                          env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert done.returncode == 0, done.stderr[-1000:]
    assert "launch: 2 rank(s) on " in done.stderr and "train softmax" in done.stderr
    assert "Setting OMP_NUM_THREADS" not in done.stdout + done.stderr
    assert "(cpu, 2 ranks): test accuracy" in done.stdout
