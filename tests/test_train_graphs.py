"""The CUDA-graph training step (layerwise.train.graphs): the path the graph records, run
eagerly on the CPU, trains exactly as the ordinary loop, and warming up before capture changes
no state. The capture itself needs a GPU (marked test below)."""

import dataclasses
import functools

import pytest
import torch

import layerwise.train.trainer as trainer_module
from layerwise.data.datasets import Split, load_dataset
from layerwise.errors import ConfigError
from layerwise.nn.models import ModelConfig, build_model
from layerwise.train.graphs import GraphedStep
from layerwise.train.optim import build_optimizer
from layerwise.train.trainer import TrainConfig, train


def _run(data, mcfg, cfg, device="cpu"):
    torch.manual_seed(0)
    model = build_model(mcfg).to(device)
    opt = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum)
    torch.manual_seed(1)  # the dropout and shift stream, the same for both runs
    result = train(model, data, cfg, progress=False, optimizer=opt)
    return model, opt, result


@pytest.mark.parametrize("optimizer,l2,shift", [("adam", 0.0, 2), ("momentum", 1e-3, 0)])
def test_recorded_step_trains_as_the_ordinary_loop(monkeypatch, optimizer, l2, shift):
    # 430 training examples in batches of 50: eight full batches and one of 30 per epoch
    full = load_dataset("mnist-10k", val_size=0, seed=0)
    data = dataclasses.replace(full, train=Split(full.train.x[:430], full.train.y[:430]))
    mcfg = ModelConfig("deepnn", (1, 28, 28), 10, dropout=0.5)
    cfg = TrainConfig(optimizer=optimizer, lr=1e-3, l2=l2, batch_size=50, steps=20,
                      eval_every=7, shift=shift)
    eager, eager_opt, eager_result = _run(data, mcfg, cfg)
    monkeypatch.setattr(trainer_module, "GraphedStep",
                        functools.partial(GraphedStep, capture=False))
    recorded, opt, result = _run(data, mcfg, TrainConfig(**{**cfg.__dict__,
                                                             "cuda_graphs": True}))
    assert [r["train_loss"] for r in result.history.rows] == \
        [r["train_loss"] for r in eager_result.history.rows]
    for (name, a), b in zip(recorded.state_dict().items(), eager.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    state, eager_state = opt.state_dict()["state"], eager_opt.state_dict()["state"]
    for k in state:
        for name, v in state[k].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(eager_state[k][name])), name


def test_graphs_need_cuda_and_one_process():
    model = build_model(ModelConfig("softmax", (1, 28, 28), 10))
    opt = build_optimizer("adam", model.parameters(), 1e-3)
    with pytest.raises(ConfigError, match="CUDA"):
        GraphedStep(lambda idx: idx.sum(), model, opt, torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_graph_replay_trains_like_eager_on_cuda():
    data = load_dataset("mnist-10k", val_size=0, seed=0, device=torch.device("cuda"))
    mcfg = ModelConfig("deepnn", (1, 28, 28), 10, dropout=0.5)
    cfg = TrainConfig(optimizer="adam", lr=1e-4, batch_size=50, steps=200, eval_every=100)
    eager, _, eager_result = _run(data, mcfg, cfg, "cuda")
    graphed, _, result = _run(data, mcfg, TrainConfig(**{**cfg.__dict__, "cuda_graphs": True}),
                              "cuda")
    for a, b in zip(graphed.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
