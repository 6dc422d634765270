"""Training with lower-precision products (--matmul bf16 / tf32): the CD-1 statistics with
bfloat16 operands, learning that tracks full precision, resume, and the refusals."""

import json

import pytest
import torch

from layerwise.cli.main import main
from layerwise.errors import ConfigError
from layerwise.rbm import RBM, CDConfig, CDTrainer, RBMConfig, io, run_epochs
from layerwise.rbm.data import fit_preprocessing
from layerwise.rbm.measures import exact_log_z, log_likelihood


def _patterns(n=400, V=12, seed=0):
    """Noisy copies of three binary prototypes."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(3, V, generator=g) < 0.5).float()
    x = protos[torch.randint(3, (n,), generator=g)]
    return torch.where(torch.rand(x.shape, generator=g) < 0.05, 1 - x, x)


def _bf16(a, b):
    """a @ b from bfloat16-rounded operands, exactly accumulated, as float32: what the CPU's
    bfloat16 products compute up to float32 accumulation order."""
    return (a.bfloat16().double() @ b.bfloat16().double()).float()


def test_bf16_step_is_cd1_with_bfloat16_products():
    # Sizes above what oneDNN leaves in float32 (products of a few thousand multiply-adds).
    rbm = RBM(RBMConfig(40, 24), torch.Generator().manual_seed(0))
    rbm.W.normal_(0, 0.7, generator=torch.Generator().manual_seed(3))  # weights bf16 must round
    W0, bv0, bh0 = rbm.W.clone(), rbm.b_vis.clone(), rbm.b_hid.clone()
    v = _patterns(n=20, V=40)
    trainer = CDTrainer(rbm, CDConfig(lr=0.1, momentum=0.0, weight_decay=0.01, batch_size=20,
                                      matmul="bf16"))
    g = torch.Generator().manual_seed(0)
    g.set_state(trainer.sampler.get_state())
    trainer.step(v)
    # Replay with every product's operands rounded to bfloat16 and everything else float32.
    h_pos = torch.sigmoid(_bf16(v, W0) + bh0)
    h = (torch.rand(h_pos.shape, generator=g) < h_pos).float()
    v_neg = torch.sigmoid(_bf16(h, W0.T) + bv0)
    h_neg = torch.sigmoid(_bf16(v_neg, W0) + bh0)
    stat = _bf16(torch.cat([v, v_neg]).T, torch.cat([h_pos, -h_neg]))
    W1 = W0 + 0.1 * (stat / 20 - 0.01 * W0)
    torch.testing.assert_close(rbm.W, W1, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(rbm.b_hid, bh0 + 0.1 * (h_pos - h_neg).mean(0))
    # ... and it is not the float32 step: the reconstruction of full products differs.
    assert not torch.allclose(v_neg, torch.sigmoid(h @ W0.T + bv0), rtol=0, atol=1e-6)


def test_products_return_to_full_precision_outside_the_context():
    rbm = RBM(RBMConfig(40, 24), torch.Generator().manual_seed(0))
    v = torch.rand(20, 40, generator=torch.Generator().manual_seed(1))
    with rbm.product_precision("bf16"):
        inside = rbm.hidden_input(v)
        torch.testing.assert_close(inside, _bf16(v, rbm.W) + rbm.b_hid, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(rbm.hidden_input(v), v @ rbm.W + rbm.b_hid)
    assert not torch.equal(inside, rbm.hidden_input(v))


@pytest.mark.parametrize("visible", ["binary", "gaussian"])
def test_bf16_learning_tracks_full_precision(visible):
    """The same run with float32 and bf16 products: after 30 epochs the two models differ
    (rounding changes some samples) but fit the data equally well. 64 visible units and batches
    of 64, so that the products are large enough for oneDNN to take them in bfloat16."""
    x = _patterns(n=640, V=64)
    if visible == "gaussian":
        x = (x - x.mean(0)) / x.std(0)
    runs = {}
    for matmul in ("full", "bf16"):
        rbm = RBM(RBMConfig(64, 8, visible=visible), torch.Generator().manual_seed(1))
        cfg = CDConfig(epochs=30, batch_size=64, lr=0.05 if visible == "binary" else 0.01,
                       matmul=matmul)
        runs[matmul] = (rbm, run_epochs(CDTrainer(rbm, cfg), x)[-1].recon_error)
    (full, err_full), (low, err_low) = runs["full"], runs["bf16"]
    assert not torch.equal(full.W, low.W)
    assert err_low == pytest.approx(err_full, rel=0.05)
    if visible == "binary":  # exact log-likelihood of the data under each model
        ll = [log_likelihood(m, x, exact_log_z(m)) for m in (full, low)]
        assert ll[1] == pytest.approx(ll[0], abs=0.05)


def test_bf16_resume_equals_an_uninterrupted_run(tmp_path):
    x = _patterns()
    prep = fit_preprocessing(x, "binary", False)

    def fresh(epochs):
        rbm = RBM(RBMConfig(12, 8), torch.Generator().manual_seed(1))
        return rbm, CDTrainer(rbm, CDConfig(epochs=epochs, batch_size=30, matmul="bf16"))

    rbm, trainer = fresh(4)
    run_epochs(trainer, x)
    rbm2, half = fresh(2)
    run_epochs(half, x)
    io.save(tmp_path / "half.pt", rbm2, prep, half)
    payload = io.load_payload(tmp_path / "half.pt")
    rbm3 = io.rbm_from_payload(payload, tmp_path / "half.pt")
    resumed = io.resume_trainer(payload, rbm3, epochs=4)
    assert resumed.cd.matmul == "bf16"
    run_epochs(resumed, x)
    assert torch.equal(rbm3.W, rbm.W) and torch.equal(rbm3.b_vis, rbm.b_vis)


def test_precisions_the_weights_cannot_use_are_refused(capsys):
    with pytest.raises(ConfigError, match="--dtype float32"):
        CDTrainer(RBM(RBMConfig(4, 3, dtype="float64")), CDConfig(matmul="bf16"))
    with pytest.raises(ConfigError, match="CUDA"):
        CDTrainer(RBM(RBMConfig(4, 3)), CDConfig(matmul="tf32"))
    with pytest.raises(ConfigError, match=r"CDConfig\.matmul"):  # the CLI says --matmul
        CDConfig(matmul="fp8")
    assert main(["rbm", "train", "--matmul", "tf32", "--device", "cpu", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "CUDA" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_reports_the_product_precision(tmp_path, capsys, monkeypatch):
    # At 784 x 32 emulated bf16 products are quick, so this runs on every CPU.
    monkeypatch.setattr("layerwise.rbm.model.native_bf16", lambda device: True)
    assert main(["rbm", "train", "--hidden", "32", "--epochs", "1", "--matmul", "bf16",
                 "--device", "cpu", "--save", str(tmp_path / "m.pt"), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["matmul"] == "bf16" and figures["dtype"] == "float32"
    assert 0 < figures["recon_error"] < 0.2
    assert io.load_payload(tmp_path / "m.pt")["train"]["matmul"] == "bf16"


def test_bf16_is_refused_where_it_would_be_emulated(capsys, monkeypatch):
    monkeypatch.setattr("layerwise.rbm.model.native_bf16", lambda device: False)
    assert main(["rbm", "train", "--hidden", "8", "--epochs", "1", "--matmul", "bf16",
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "emulated" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
