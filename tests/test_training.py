"""The supervised workflow: optimisers as the course writes them, checkpoints that resume
exactly, TensorBoard files read back, transfer learning, clear failures."""

import dataclasses
import math
import pickle

import pytest
import torch
from torch import nn

from layerwise.checkpoint import load_checkpoint
from layerwise.cli.main import main
from layerwise.data.datasets import load_dataset
from layerwise.errors import ConfigError, DataError
from layerwise.nn.layers import Pool2d, Step
from layerwise.nn.models import ModelConfig, build_model, freeze_layers
from layerwise.runtime import RunConfig
from layerwise.train.optim import CourseMomentum
from layerwise.train.run import fit
from layerwise.train.trainer import DivergedError, TrainConfig, train

SMALL = "regression:n=200,degree=2,coef=1/-2/0.5,noise=0.05"


def test_course_momentum_is_eq_5():
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = CourseMomentum([p], lr=0.1, nu=0.8)
    delta, a = torch.zeros(2), p.detach().clone()
    for _ in range(5):
        opt.zero_grad()
        (p ** 2).sum().backward()
        grad = 2 * a
        delta = -(1 - 0.8) * 0.1 * grad + 0.8 * delta
        a = a + delta
        opt.step()
        assert torch.allclose(p.detach(), a)


def test_step_activation_is_forward_only():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = Step()(x)
    assert y.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="cannot train through it"):
        y.sum().backward()


def test_pooling_modes():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    expect = {"max": [[5, 7], [13, 15]], "min": [[0, 2], [8, 10]],
              "mean": [[2.5, 4.5], [10.5, 12.5]], "sum": [[10, 18], [42, 50]]}
    for mode, want in expect.items():
        assert Pool2d(mode)(x)[0, 0].tolist() == want


def test_deepnn_is_the_course_s():
    # Seeded: trunc_normal_ clamps to float32(0.2) = 0.2000000030, which an unlucky draw can hit
    torch.manual_seed(0)
    net = build_model(ModelConfig("deepnn", (1, 28, 28), 10, dropout=0.5))
    sizes = [tuple(p.shape) for p in net.parameters()]
    assert sizes == [(32, 1, 5, 5), (32,), (64, 32, 5, 5), (64,), (1024, 3136), (1024,),
                     (10, 1024), (10,)]
    assert all(float(b.detach().mean()) == pytest.approx(0.1) for n, b in net.named_parameters()
               if n.endswith("bias"))
    w = net[2][1].weight.detach()
    assert float(w.abs().max()) <= 0.2 and float(w.std()) == pytest.approx(0.088, abs=0.005)


def _train_cli(tmp_path, *extra):
    return main(["train", "polynomial", "--dataset", SMALL, "--degree", "2", "--optimizer",
                 "momentum", "--lr", "0.05", "--batch-size", "16", "--eval-every", "7",
                 "--device", "cpu", *extra])


def test_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    whole, part = tmp_path / "whole.pt", tmp_path / "part.pt"
    assert _train_cli(tmp_path, "--steps", "40", "--checkpoint", str(whole)) == 0
    assert _train_cli(tmp_path, "--steps", "21", "--checkpoint", str(part)) == 0  # mid-epoch
    assert main(["train", "polynomial", "--dataset", SMALL, "--resume", str(part),
                 "--steps", "40", "--checkpoint", str(part), "--device", "cpu"]) == 0
    a, b = load_checkpoint(whole), load_checkpoint(part)
    assert a["step"] == b["step"] == 40
    for key in a["state"]:
        assert torch.equal(a["state"][key], b["state"][key]), key
    assert torch.equal(a["optimizer"]["state"][0]["delta"], b["optimizer"]["state"][0]["delta"])


def test_resume_with_dropout_and_adam_is_exact(tmp_path):
    opts = ModelConfig("mlp", hidden=(32,), dropout=0.3)
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, steps=30, eval_every=11)
    run = RunConfig(device="cpu")
    fit(opts, "mnist-10k", cfg, run, checkpoint=str(tmp_path / "w.pt"), progress=False)
    fit(opts, "mnist-10k", TrainConfig(**{**cfg.__dict__, "steps": 22}), run,
        checkpoint=str(tmp_path / "p.pt"), progress=False)
    resumed = RunConfig(device="cpu", resume=str(tmp_path / "p.pt"))
    fit(opts, "mnist-10k", cfg, resumed, checkpoint=str(tmp_path / "p.pt"), progress=False)
    a, b = load_checkpoint(tmp_path / "w.pt"), load_checkpoint(tmp_path / "p.pt")
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def test_a_deepnn_resumed_from_an_nchw_optimizer_state_is_exact(tmp_path):
    # The trainer makes conv nets channels-last on the CPU and Adam is fused: a checkpoint
    # whose moments were written in NCHW order (as revisions before channels-last wrote them)
    # must continue exactly, not update the wrong elements.
    opts = ModelConfig("deepnn")
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=20, steps=6, eval_every=3)
    run = RunConfig(device="cpu", val_size=100)
    fit(opts, "mnist-10k", cfg, run, checkpoint=str(tmp_path / "w.pt"), progress=False)
    fit(opts, "mnist-10k", dataclasses.replace(cfg, steps=3), run,
        checkpoint=str(tmp_path / "p.pt"), progress=False)
    payload = torch.load(tmp_path / "p.pt", weights_only=True)
    moments = [v for state in payload["optimizer"]["state"].values() for v in state.values()
               if v.dim() == 4]
    assert moments and all(v.is_contiguous(memory_format=torch.channels_last) for v in moments)
    for state in payload["optimizer"]["state"].values():
        for k, v in state.items():
            state[k] = v.contiguous()  # NCHW order
    torch.save(payload, tmp_path / "p.pt")
    resumed = dataclasses.replace(run, resume=str(tmp_path / "p.pt"))
    fit(opts, "mnist-10k", cfg, resumed, checkpoint=str(tmp_path / "p.pt"), progress=False)
    a, b = load_checkpoint(tmp_path / "w.pt"), load_checkpoint(tmp_path / "p.pt")
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def test_state_layouts_follow_their_parameters_for_fused_adam():
    from layerwise.train.optim import match_state_layouts

    torch.manual_seed(0)
    fused = nn.Parameter(torch.randn(8, 4, 5, 5).contiguous(memory_format=torch.channels_last))
    plain = nn.Parameter(fused.detach().clone().contiguous())
    grad = torch.randn(8, 4, 5, 5)
    results = []
    for p, is_fused in ((fused, True), (plain, False)):
        opt = torch.optim.Adam([p], lr=0.1, fused=is_fused, foreach=None if is_fused else False)
        for step in range(2):
            p.grad = grad.clone().contiguous(memory_format=torch.channels_last) \
                if is_fused else grad.clone()
            opt.step()
            if step == 0:  # the state as an NCHW checkpoint would bring it back
                for k, v in opt.state[p].items():
                    opt.state[p][k] = v.contiguous()
                match_state_layouts(opt)
                assert opt.state[p]["exp_avg"].stride() == p.stride()
        results.append(p.detach())
    assert torch.allclose(*results, atol=1e-6)


def test_checkpoint_loading_never_unpickles_code(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "layerwise-checkpoint", "x": Evil()}))
    with pytest.raises(DataError, match="holds code, not only tensors; refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_checkpoint_of_another_architecture(tmp_path, capsys):
    ck = tmp_path / "mlp.pt"
    assert main(["train", "mlp", "--hidden", "16", "--steps", "3", "--checkpoint", str(ck),
                 "--device", "cpu"]) == 0
    payload = load_checkpoint(ck)
    payload["model"]["hidden"] = [32]
    torch.save(payload, tmp_path / "other.pt")
    assert main(["eval", str(tmp_path / "other.pt"), "--device", "cpu"]) == 1
    assert "of another architecture" in capsys.readouterr().err


def test_divergence_stops_with_a_message():
    data = load_dataset(SMALL)
    model = build_model(ModelConfig("polynomial", (1,), 1, degree=2))
    with pytest.raises(DivergedError, match="lower --lr"):
        train(model, data, TrainConfig(optimizer="sgd", lr=50.0, steps=200, eval_every=10),
              progress=False)


def test_early_stopping_restores_best_weights():
    data = load_dataset("mnist-10k", val_size=500)
    model = build_model(ModelConfig("softmax", (1, 28, 28), 10))
    result = train(model, data, TrainConfig(optimizer="sgd", lr=5.0, batch_size=500, steps=400,
                                            eval_every=5, patience=3), progress=False)
    best = min(r["val_loss"] for r in result.history.rows)
    from layerwise.train.trainer import evaluate
    assert evaluate(model, data.val, "classification")["loss"] == pytest.approx(best, rel=1e-5)
    assert result.steps < 400


def test_freeze_first_layers(tmp_path, capsys):
    net = build_model(ModelConfig("deepnn", (1, 28, 28), 10))
    freeze_layers(net, 2)
    assert [p.requires_grad for p in net.parameters()] == [False] * 4 + [True] * 4
    with pytest.raises(Exception, match="freeze between 0 and 3"):
        freeze_layers(net, 4)


def test_tensorboard_files_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = RunConfig(device="cpu", logdir=str(tmp_path / "tb"))
    fit("softmax", "mnist-10k", TrainConfig(optimizer="sgd", lr=0.5, batch_size=100, steps=20,
                                            eval_every=10), run, progress=False)
    train_ev = EventAccumulator(str(tmp_path / "tb" / "train"), size_guidance={"images": 0,
                                                                               "histograms": 0})
    test_ev = EventAccumulator(str(tmp_path / "tb" / "test"))
    train_ev.Reload()
    test_ev.Reload()
    assert [e.step for e in train_ev.Scalars("loss")] == [10, 20]
    acc = test_ev.Scalars("accuracy")
    assert [e.step for e in acc] == [10, 20] and 0.5 < acc[-1].value <= 1.0
    assert {"1.weight", "1.bias"} <= set(train_ev.Tags()["histograms"])
    images = train_ev.Images("weights")
    # Ten 28x28 class images of the softmax's W, tiled 8 to a row.
    assert images and (images[-1].width, images[-1].height) == (8 * 28, 2 * 28)
    assert train_ev.Graph() is not None
    assert math.isfinite(train_ev.Scalars("validation/loss")[-1].value)


@pytest.mark.multiprocess
def test_tensorboard_server_serves_a_scalar(tmp_path):
    """Start the real `tensorboard --logdir` on loopback and read a scalar over its HTTP API."""
    import json
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    from conftest import free_port

    run = RunConfig(device="cpu", logdir=str(tmp_path / "tb"))
    fit(ModelConfig("polynomial", degree=1), "lab4",
        TrainConfig(optimizer="sgd", lr=0.01, steps=30, eval_every=10), run, progress=False)
    port = free_port()
    exe = shutil.which("tensorboard")
    cmd = [exe] if exe else [sys.executable, "-m", "tensorboard.main"]
    proc = subprocess.Popen([*cmd, "--logdir", str(tmp_path / "tb"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=train&tag=loss"
    try:
        deadline, rows = time.monotonic() + 90, None
        while time.monotonic() < deadline and rows is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    rows = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert rows is not None, "tensorboard did not answer within 90 s"
        assert [step for _, step, _ in rows] == [10, 20, 30]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_learning_curves_are_written_and_read_back(tmp_path, capsys):
    from layerwise.plots import read_csv
    assert main(["curve", "softmax", "--optimizer", "sgd", "--lr", "0.5", "--batch-size", "100",
                 "--steps", "60", "--sizes", "40,2000", "--out", str(tmp_path), "--device",
                 "cpu"]) == 0
    rows = read_csv(tmp_path / "learning_curve.csv")
    assert [r["train_size"] for r in rows] == [40, 2000]
    # The course's slide: a tiny training set is fitted perfectly and generalises worse.
    assert rows[0]["train_error"] == 0.0 and rows[0]["val_error"] > rows[1]["val_error"]
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["train", "softmax", "--steps", "20", "--eval-every", "5", "--curves",
                 str(tmp_path / "run"), "--device", "cpu"]) == 0
    assert [r["step"] for r in read_csv(tmp_path / "run" / "curves.csv")] == [5, 10, 15, 20]
    assert main(["curve", "softmax", "--sizes", "0,9999999", "--out", str(tmp_path)]) == 2
    assert "--sizes must lie between 1 and" in capsys.readouterr().err


def test_random_shift_moves_each_image_within_the_bound_and_keeps_its_content():
    from layerwise.train.trainer import random_shift

    torch.manual_seed(0)
    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one lit pixel in the middle of each image
    y = random_shift(x, 2)
    assert y.shape == x.shape and torch.equal(y.sum((1, 2, 3)), torch.ones(64))
    where = y[:, 0].flatten(1).argmax(1)
    dy, dx = where // 9 - 4, where % 9 - 4
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # every offset in [-2, 2] occurs
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) > 10
    assert torch.equal(random_shift(x, 0), x)


def test_the_front_door_takes_any_module_and_rbms_take_arrays(tmp_path):
    """fit() trains an nn.Module built outside layerwise; fit_rbm() takes a numpy array."""
    import numpy as np

    import layerwise as lw

    data = lw.load_dataset("mnist-10k")
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    result = lw.fit(net, data, lw.TrainConfig(steps=60, eval_every=30),
                    lw.RunConfig(device="cpu"), progress=False)
    assert result.model is net and result.model_config is None
    assert result.to_dict()["model"] == "Sequential" and result.test_accuracy > 0.6
    assert [r["step"] for r in result.history] == [30, 60]
    x = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(np.float32)
    rbm = lw.fit_rbm(lw.RBMConfig(n_hidden=5), x, lw.CDConfig(epochs=2, batch_size=20),
                       lw.RunConfig(device="cpu"), progress=False)
    assert rbm.rbm.cfg.n_visible == 12 and len(rbm.history) == 2 and rbm.recon_error is None
    assert rbm.transform(torch.from_numpy(x)).shape == (200, 5)


@pytest.mark.parametrize("pool", ["max", "min"])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_deepnn_pools_before_its_relu_with_the_course_s_outputs_and_gradients(pool, layout):
    # layerwise's deepnn pools first (a quarter of the ReLU's work); the course's order is
    # conv, ReLU, pool. Both must give the same numbers exactly, background ties included.
    torch.manual_seed(0)
    ours = build_model(ModelConfig("deepnn", (1, 28, 28), 10, dropout=0.0, pool=pool))
    course = build_model(ModelConfig("deepnn", (1, 28, 28), 10, dropout=0.0, pool=pool))
    for block in list(course)[:2]:
        assert isinstance(block[1], Pool2d) and isinstance(block[2], nn.ReLU)
        block[1], block[2] = block[2], block[1]  # back to conv, ReLU, pool
    course.load_state_dict(ours.state_dict())
    x = torch.rand(6, 1, 28, 28)
    x[:, :, :10] = 0  # blank rows, as MNIST's borders: windows of equal conv outputs
    x = x.contiguous(memory_format=layout)
    outs, grads = [], []
    for net in (ours, course):
        net.to(memory_format=layout)
        out = net(x)
        out.square().sum().backward()
        outs.append(out)
        grads.append([p.grad for p in net.parameters()])
    assert torch.equal(*outs)
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_conv_nets_train_channels_last_on_the_cpu_with_the_same_result(monkeypatch):
    import layerwise.train.trainer as trainer

    data = load_dataset("mnist-10k", val_size=100)
    # SGD: Adam's normalised step would magnify rounding differences of near-zero gradients.
    # lr 0.01, not more: at 0.05 the first step takes the validation loss to ~22 and the next
    # five grow the 3e-7 differences of conv1's NCHW and NHWC oneDNN kernels to 2e-2 (measured
    # on an AVX-512 CPU, where conv1 runs in oneDNN); at 0.01 they stay near 1e-7.
    cfg = TrainConfig(optimizer="sgd", lr=0.01, batch_size=20, steps=6, eval_every=6)
    runs = []
    for layout in (torch.channels_last, torch.contiguous_format):
        monkeypatch.setattr(trainer, "channels_last_on_cpu",
                            lambda model, x, f=layout: f is torch.channels_last)
        torch.manual_seed(0)
        net = build_model(ModelConfig("deepnn"), data)
        result = train(net, data, cfg, progress=False)
        assert net[0][0].weight.is_contiguous(memory_format=layout)
        runs.append((net, result.history.rows[-1]))
    # only the order of the convolutions' sums differs
    assert runs[0][1]["val_loss"] == pytest.approx(runs[1][1]["val_loss"], rel=1e-4)
    for a, b in zip(runs[0][0].parameters(), runs[1][0].parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    monkeypatch.undo()
    assert trainer.channels_last_on_cpu(net, data.train.x) is True
    mlp = build_model(ModelConfig("mlp"), data)
    assert trainer.channels_last_on_cpu(mlp, data.train.x) is False


def test_conv2d_as_patches_is_nn_conv2d(monkeypatch):
    from layerwise.nn import layers
    from layerwise.nn.layers import Conv2d

    # AVX2 CPUs take the patches (patches_beat_onednn); test that path on any CPU
    monkeypatch.setattr(layers, "patches_beat_onednn", lambda: True)
    torch.manual_seed(0)
    for c_in, k, pad, expect_patches in ((1, 5, 2, True), (2, 3, 1, True), (3, 5, 2, False),
                                         (1, 5, 0, False), (1, 4, 2, False)):
        ours = Conv2d(c_in, 8, k, padding=pad)
        ref = nn.Conv2d(c_in, 8, k, padding=pad)
        ref.load_state_dict(ours.state_dict())
        x = torch.rand(3, c_in, 12, 10)
        assert ours._as_patches(x) == expect_patches
        for layout in (torch.contiguous_format, torch.channels_last):
            xs = x.contiguous(memory_format=layout)
            a, b = ours(xs), ref(xs)
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-6)
            g = torch.randn_like(b)
            grads = [torch.autograd.grad(out, list(m.parameters()), g)
                     for out, m in ((a, ours), (b, ref))]
            assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(*grads, strict=True))
    conv = Conv2d(1, 8, 5, padding=2)
    strided = torch.rand(2, 1, 9, 18)[..., ::2]  # any strides: patches are copied from a view
    assert conv._as_patches(strided)
    assert torch.allclose(conv(strided), nn.Conv2d.forward(conv, strided), atol=1e-6)
    monkeypatch.setattr(layers, "patches_beat_onednn", lambda: False)  # AVX-512: oneDNN
    assert not conv._as_patches(strided)


def test_patches_only_where_they_beat_onednn(monkeypatch):
    from layerwise.nn import layers

    for capability, patches in (("AVX2", True), ("AVX512", False), ("DEFAULT", False)):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert layers.patches_beat_onednn() is patches, capability


def test_one_resume_recipe_for_both_workloads_and_deprecated_names(tmp_path):
    """`layerwise.resume_recipe` reads a supervised and an RBM checkpoint alike, returning a
    typed Recipe; the names README gave before (train_rbm, train.run.resume_recipe) still
    work for a release and warn."""
    import numpy as np

    import layerwise as lw

    sup, rbm = tmp_path / "sup.pt", tmp_path / "rbm.pt"
    lw.fit("softmax", "mnist-10k", lw.TrainConfig(steps=4), lw.RunConfig(device="cpu"),
           checkpoint=str(sup), progress=False)
    x = (np.random.default_rng(0).random((60, 12)) < 0.3).astype(np.float32)
    lw.fit_rbm(lw.RBMConfig(n_hidden=5), x, lw.CDConfig(epochs=1, batch_size=20),
               lw.RunConfig(device="cpu"), checkpoint=str(rbm), progress=False)
    recipe = lw.resume_recipe(str(sup), train={"lr": 0.01, "steps": 8})
    assert recipe.kind == "supervised" and recipe.model.name == "softmax"
    assert recipe.train.lr == 0.01 and recipe.train.steps == 8
    recipe = lw.resume_recipe(str(rbm), train={"epochs": 3})
    assert recipe.kind == "rbm" and recipe.model.n_hidden == 5 and recipe.train.epochs == 3
    assert recipe.parallel is None
    with pytest.warns(DeprecationWarning, match="fit_rbm"):
        old = lw.train_rbm(x, lw.RBMConfig(n_hidden=5), lw.CDConfig(epochs=1, batch_size=20),
                           lw.RunConfig(device="cpu"), progress=False)
    assert old.rbm.cfg.n_hidden == 5
    from layerwise.train.run import resume_recipe

    with pytest.warns(DeprecationWarning, match="layerwise.resume_recipe"):
        model, cfg = resume_recipe(str(sup), train={"steps": 8})
    assert model.name == "softmax" and cfg.steps == 8


def test_bf16_precision_trains_in_autocast_or_is_refused_where_emulated(monkeypatch):
    """--precision bf16 runs the forward pass under bfloat16 autocast with float32 weights and
    optimiser state; where the CPU would emulate bfloat16 it is refused in one sentence."""
    from layerwise.train import trainer

    data = load_dataset("mnist-10k", val_size=0, progress=False)
    cfg = TrainConfig(steps=3, precision="bf16")
    net = build_model(ModelConfig("deepnn").sized_for(data))
    monkeypatch.setattr(trainer, "native_bf16", lambda device: False)
    with pytest.raises(ConfigError, match="--precision bf16 needs native bfloat16 products"):
        train(net, data, cfg, progress=False)
    monkeypatch.setattr(trainer, "native_bf16", lambda device: True)
    seen = []
    real = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward",
                        lambda self, x: seen.append(torch.is_autocast_enabled("cpu"))
                        or real(self, x))
    train(net, data, cfg, progress=False)
    assert seen and all(seen)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    with pytest.raises(ConfigError, match=r"TrainConfig\.precision must be one of float32, bf16"):
        TrainConfig(precision="fp16")
