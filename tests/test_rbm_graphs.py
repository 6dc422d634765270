"""The CUDA-graph epoch (layerwise.rbm.graphs): what the graph records, run eagerly, equals the
ordinary loop bit for bit, and warming up before capture changes nothing. The capture itself
needs a GPU (marked test below)."""

import pytest
import torch

from layerwise.cli.main import main
from layerwise.errors import ConfigError
from layerwise.rbm import RBM, CDConfig, CDTrainer, RBMConfig, run_epochs
from layerwise.rbm.graphs import GraphedEpochs


def _setup(device="cpu", matmul="full", n=230, epochs=3):
    x = (torch.rand(n, 20, generator=torch.Generator().manual_seed(0)) < 0.4).float().to(device)
    rbm = RBM(RBMConfig(20, 12), torch.Generator().manual_seed(1)).to(device)
    trainer = CDTrainer(rbm, CDConfig(epochs=epochs, batch_size=50, cd_k=2, matmul=matmul,
                                      momentum=0.9))
    return x, rbm, trainer


@pytest.mark.parametrize("matmul", ["full", "bf16"])
def test_recorded_epoch_equals_the_eager_loop(matmul):
    x, eager, trainer = _setup(matmul=matmul)  # 230 = 4 batches of 50 and one of 30
    errors = [r.recon_error for r in run_epochs(trainer, x)]
    x, static, trainer2 = _setup(matmul=matmul)
    graphed = GraphedEpochs(trainer2, x, capture=False)
    graphed.warm_up()
    static_errors = []
    for _ in range(3):
        static_errors.append(graphed.run_epoch().item() / x.numel())
        trainer2.epoch += 1
    assert static_errors == errors
    assert torch.equal(static.W, eager.W) and torch.equal(static.b_vis, eager.b_vis)
    assert torch.equal(trainer2.vel["W"], trainer.vel["W"])
    assert torch.equal(trainer2.sampler.get_state(), trainer.sampler.get_state())


def test_graphs_need_cuda_and_cd_k():
    x, rbm, trainer = _setup()
    with pytest.raises(ConfigError, match="CUDA"):
        run_epochs(trainer, x, cuda_graphs=True)
    pcd = CDTrainer(rbm, CDConfig(persistent=True))
    with pytest.raises(ConfigError, match="--pcd"):
        GraphedEpochs(pcd, x, capture=False)


def test_cli_refuses_graphs_on_a_cpu(capsys):
    assert main(["rbm", "train", "--cuda-graphs", "--device", "cpu", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "CUDA" in err and "Traceback" not in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("matmul", ["full", "bf16"])
def test_graph_replay_equals_eager_on_cuda(matmul):
    x, eager, trainer = _setup("cuda", matmul)
    run_epochs(trainer, x)
    x, graphed, trainer2 = _setup("cuda", matmul)
    run_epochs(trainer2, x, cuda_graphs=True)
    torch.testing.assert_close(graphed.W, eager.W, rtol=1e-5, atol=1e-6)
    assert torch.equal(trainer2.sampler.get_state(), trainer.sampler.get_state())
