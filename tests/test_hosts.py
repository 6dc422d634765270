"""Two machines for real: each a network namespace with its own address, hostname and hosts
file (layerwise.distributed.simhosts), one `layerwise launch` on each, meeting at a rendezvous
on the first. Skipped with the reason where namespaces cannot be made (not root)."""

import os
import subprocess
import sys
import time

import pytest
import torch

from conftest import make_mnist_dir
from layerwise.cli.main import main
from layerwise.distributed import simhosts

WHY = simhosts.available() if sys.platform == "linux" else "simulated hosts need Linux"
needs_hosts = pytest.mark.skipif(WHY is not None, reason=WHY or "")
PORT = "29411"
RBM = ["--dataset", "random-binary:n=400,visible=40", "--hidden", "24", "--batch-size", "20",
       "--epochs", "2", "--device", "cpu"]


@pytest.fixture
def hosts():
    with simhosts.SimulatedHosts(2) as h:
        yield h
    assert not any(ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                        text=True).stdout for ns in h.namespaces)


def _launch(extra=()):
    return [sys.executable, "-m", "layerwise", "launch", "--nnodes", "2", "--nproc-per-node",
            "1", "--rdzv-endpoint", f"lwhost0:{PORT}", "--join-timeout", "60",
            "--connect-timeout", "20", *extra, "--"]


def _start(hosts, command, extra=()):
    env = {"OMP_NUM_THREADS": "1"}
    return [hosts.popen(i, [*_launch(extra), *command], env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True) for i in range(2)]


def _finish(procs, timeout=180):
    done = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        done.append((p.returncode, out, err))
    return done


@pytest.mark.hosts
@needs_hosts
def test_ddp_on_two_hosts_equals_one_process(hosts, tmp_path):
    make_mnist_dir(tmp_path / "mnist", n_train=300, n_test=41)
    args = ["train", "mlp", "--dataset", str(tmp_path / "mnist"), "--steps", "12",
            "--batch-size", "20", "--lr", "0.01", "--eval-every", "4", "--device", "cpu"]
    assert main([*args, "--checkpoint", str(tmp_path / "one.pt"), "--quiet"]) == 0
    results = _finish(_start(hosts, [*args, "--checkpoint", str(tmp_path / "two.pt")]))
    for code, _, err in results:
        assert code == 0, err[-2000:]
    assert "2 ranks" in results[0][1] and results[1][1] == ""  # rank 0, on lwhost0, reports
    assert "launch: 1 rank(s) on lwhost1 of 2 on 2 machines" in results[1][2]
    one = torch.load(tmp_path / "one.pt", weights_only=True)["state"]
    two = torch.load(tmp_path / "two.pt", weights_only=True)["state"]
    for k in one:  # Adam: 5e-5, as tests/test_ddp.py's ADAM_ATOL says why
        torch.testing.assert_close(two[k], one[k], rtol=0, atol=5e-5, msg=k)


@pytest.mark.hosts
@needs_hosts
@pytest.mark.parametrize("algorithm", ["model", "data"])
def test_parallel_rbm_on_two_hosts_equals_one_process(hosts, tmp_path, algorithm):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    assert main(["rbm", "train", *RBM, "--parallel", algorithm, "--save", str(one),
                 "--quiet"]) == 0
    results = _finish(_start(hosts, ["rbm", "train", *RBM, "--parallel", algorithm, "--save",
                                     str(two)]))
    for code, _, err in results:
        assert code == 0, err[-2000:]
    a = torch.load(one, weights_only=True)["state"]
    b = torch.load(two, weights_only=True)["state"]
    for k in ("W", "b_vis", "b_hid"):
        assert torch.equal(a[k], b[k]), k


@pytest.mark.hosts
@needs_hosts
@pytest.mark.parametrize("fault", ["kill", "cut"])
def test_a_lost_host_ends_the_other_cleanly(hosts, tmp_path, fault):
    timeout = 8
    procs = _start(hosts, ["rbm", "train", "--dataset", "random-binary:n=4000,visible=300",
                           "--hidden", "1000", "--parallel", "model", "--epochs", "500",
                           "--device", "cpu", "--timeout", str(timeout)],
                   extra=["--log-dir", str(tmp_path / "logs")])
    # Wait until training runs (the first epoch line), then lose host 1.
    line = procs[0].stdout.readline()
    assert line.startswith("epoch"), line + procs[0].stderr.read()[-2000:]
    lost = time.monotonic()
    if fault == "kill":
        assert hosts.kill(1)
        survivors = [procs[0]]
    else:
        hosts.cut(1)
        survivors = procs
    for p in survivors:
        # The rank's own timeout, a grace for torchrun's agent, and start-up margins.
        code = p.wait(timeout=timeout + simhosts_grace() + 30)
        elapsed = time.monotonic() - lost
        err = p.stderr.read()
        assert code == 1, err[-2000:]
        assert elapsed < timeout + simhosts_grace() + 30
        errors = [ln for ln in err.splitlines() if ln.startswith("layerwise: error:")]
        assert len(errors) == 1, err[-2000:]
        assert "Traceback" not in err and "ChildFailedError" not in err
        summary = [ln for ln in err.splitlines() if ln.startswith("launch: the job failed:")]
        assert len(summary) == 1 and " on lwhost" in summary[0], err[-2000:]
        assert "torchrun's full log is" in err
    assert (tmp_path / "logs" / "launch.log").is_file()
    if fault == "kill":
        assert procs[1].wait(timeout=10) == -9


def simhosts_grace():
    from layerwise.distributed.launcher import AGENT_GRACE
    return AGENT_GRACE


@pytest.mark.hosts
@needs_hosts
def test_a_rendezvous_that_does_not_answer_is_one_sentence_in_bounded_time(hosts, tmp_path):
    start = time.monotonic()
    done = hosts.run(1, [*_launch(["--connect-timeout", "4", "--log-dir", str(tmp_path)]),
                         "train", "softmax", "--steps", "2"], timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 1 and elapsed < 60
    failed = [ln for ln in done.stderr.splitlines() if ln.startswith("launch: the job failed")]
    assert failed == [f"launch: the job failed: the rendezvous endpoint lwhost0:{PORT} did not "
                      "answer (--connect-timeout 4 s); start the first machine's launch, or "
                      "check the address and that the port is open"], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_a_rendezvous_host_that_does_not_resolve_is_refused_at_once(capsys):
    start = time.monotonic()
    assert main(["launch", "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-endpoint",
                 "no-such-host.invalid:29400", "--", "train", "softmax"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 15
    assert err.count("\n") == 1 and "'no-such-host.invalid' does not resolve" in err


def test_simulated_hosts_say_why_they_cannot_be_made():
    if os.geteuid() == 0:
        assert simhosts.available() is None or "namespace" in simhosts.available()
    else:
        assert "root" in simhosts.available()


@pytest.mark.multiprocess
def test_a_failed_job_ends_with_a_summary_not_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "layerwise", "launch", "--nproc-per-node", "2",
                           "--log-dir", str(tmp_path / "logs"), "--", "rbm", "train",
                           "--hidden", "4", "--dataset", "random-binary:n=40,visible=9",
                           "--parallel", "model", "--lr", "nan"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 1
    err = done.stderr
    assert "Traceback" not in err and "ChildFailedError" not in err and "FAILED" not in err
    assert err.count("launch: the job failed: rank") == 1
    assert "layerwise: error: --lr must be positive" in err
    assert f"torchrun's full log is {tmp_path / 'logs' / 'launch.log'}" in err
    assert "ChildFailedError" in (tmp_path / "logs" / "launch.log").read_text()  # kept there


@pytest.mark.hosts
@needs_hosts
def test_bench_links_measures_a_slow_link_against_the_model():
    from layerwise.bench import links

    report = links.links(("none", "5mbit"), examples=300, visible=200, hidden=800, batch=100,
                         jobs=("rbm",), progress=False, timeout=300)
    fast, slow = report["rows"]
    # 300 x (2 x 800 + 200) bits in an epoch, half of them sent by each host: 33.75 KB, 54 ms
    # at 5 Mbit/s, far longer than the products of a 200 x 800 RBM: most of it is exposed.
    assert slow["rbm_predicted_seconds"] == pytest.approx(300 * 1800 / 2 / 5e6)
    assert slow["rbm_exposed_seconds"] > fast["rbm_exposed_seconds"] + 0.02
    assert slow["qdisc"] in ("tbf", "netem") and fast["rbm_predicted_seconds"] is None
    assert "5mbit" in links.table(report)[-1]
