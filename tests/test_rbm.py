"""RBMs: the CD statistics, measures against exact references, checkpoints, CLI, DBN."""

import json
import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import layerwise.rbm
from layerwise.cli.main import main
from layerwise.errors import ConfigError
from layerwise.rbm import RBM, CDConfig, CDTrainer, RBMConfig, io, run_epochs
from layerwise.rbm.data import fit_preprocessing
from layerwise.rbm.measures import ais, exact_log_z, log_likelihood, pseudo_likelihood
from layerwise.rbm.train import RBMDivergedError


def _patterns(n=400, V=12, seed=0):
    """Noisy copies of three binary prototypes: data with structure for a small RBM."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(3, V, generator=g) < 0.5).double()
    x = protos[torch.randint(3, (n,), generator=g)]
    return torch.where(torch.rand(x.shape, generator=g) < 0.05, 1 - x, x)


def _trained(visible="binary", V=12, H=8, epochs=20, learn_sigma=False, **cd):
    x = _patterns(V=V)
    if visible == "gaussian":
        x = (x - x.mean(0)) / x.std(0)
    rbm = RBM(RBMConfig(V, H, visible=visible, dtype="float64", learn_sigma=learn_sigma),
              torch.Generator().manual_seed(1))
    cfg = CDConfig(epochs=epochs, batch_size=20, lr=0.05 if visible == "binary" else 0.01, **cd)
    run_epochs(CDTrainer(rbm, cfg), x)
    return rbm, x


def test_cd1_update_is_positive_minus_negative_statistics():
    rbm = RBM(RBMConfig(6, 4, dtype="float64"), torch.Generator().manual_seed(0))
    W0, bv0, bh0 = rbm.W.clone(), rbm.b_vis.clone(), rbm.b_hid.clone()
    v = _patterns(n=10, V=6)
    cfg = CDConfig(lr=0.1, momentum=0.0, weight_decay=0.01, batch_size=10)
    trainer = CDTrainer(rbm, cfg)
    state = trainer.sampler.get_state()
    trainer.step(v)
    # Replay the same random draws by hand.
    g = torch.Generator().manual_seed(0)
    g.set_state(state)
    h_pos = torch.sigmoid(v @ W0 + bh0)
    h = (torch.rand(h_pos.shape, generator=g) < h_pos).double()
    v_neg = torch.sigmoid(h @ W0.T + bv0)
    h_neg = torch.sigmoid(v_neg @ W0 + bh0)
    dW = (v.T @ h_pos - v_neg.T @ h_neg) / 10 - 0.01 * W0
    torch.testing.assert_close(rbm.W, W0 + 0.1 * dW)
    torch.testing.assert_close(rbm.b_vis, bv0 + 0.1 * (v - v_neg).mean(0))
    torch.testing.assert_close(rbm.b_hid, bh0 + 0.1 * (h_pos - h_neg).mean(0))


def test_free_energy_matches_brute_force_and_stays_finite():
    rbm = RBM(RBMConfig(5, 3, dtype="float64"), torch.Generator().manual_seed(0))
    rbm.W.normal_(0, 2)
    v = torch.tensor([[1.0, 0, 1, 1, 0]], dtype=torch.float64)
    hs = torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)],
                      dtype=torch.float64)
    energies = -(v @ rbm.b_vis) - hs @ rbm.b_hid - (v @ rbm.W) @ hs.T
    assert rbm.free_energy(v).item() == pytest.approx(-torch.logsumexp(-energies, 1).item())
    rbm.W.fill_(1e4)  # activations of 3e4: exp would overflow, softplus does not
    assert torch.isfinite(rbm.free_energy(v)).all()


@pytest.mark.parametrize("visible", ["binary", "gaussian"])
def test_ais_agrees_with_the_exact_partition_function(visible):
    rbm, x = _trained(visible, learn_sigma=visible == "gaussian", persistent=True)
    exact = exact_log_z(rbm)
    estimate = ais(rbm, x, runs=100, betas=3000, generator=torch.Generator().manual_seed(2))
    # 100 runs give a standard error of a few hundredths of a nat here; 0.1 is > 3 std. errors.
    assert abs(estimate.log_z - exact) < 0.1
    assert estimate.log_z_low <= exact + 0.1 and exact - 0.1 <= estimate.log_z_high


def test_exact_log_z_over_visible_and_hidden_states_agree():
    rbm, _ = _trained(V=10, H=14)  # V < H: enumerates the visible layer
    by_visible = exact_log_z(rbm)
    rbm_t = RBM(RBMConfig(14, 10, dtype="float64"))  # the transposed RBM has the same Z
    rbm_t.W.copy_(rbm.W.T)
    rbm_t.b_vis.copy_(rbm.b_hid)
    rbm_t.b_hid.copy_(rbm.b_vis)
    assert exact_log_z(rbm_t) == pytest.approx(by_visible, abs=1e-9)


def test_training_raises_likelihood_and_pseudo_likelihood():
    x = _patterns(V=12)
    rbm = RBM(RBMConfig(12, 8, dtype="float64"), torch.Generator().manual_seed(1))
    before = log_likelihood(rbm, x, exact_log_z(rbm))
    pl_before = pseudo_likelihood(rbm, x, torch.Generator().manual_seed(0))
    run_epochs(CDTrainer(rbm, CDConfig(epochs=20, batch_size=20, lr=0.05)), x)
    assert log_likelihood(rbm, x, exact_log_z(rbm)) > before + 2.0
    assert pseudo_likelihood(rbm, x, torch.Generator().manual_seed(0)) > pl_before + 0.1
    assert before == pytest.approx(-12 * math.log(2), abs=0.1)  # near-zero weights: uniform


def test_sample_means_match_probabilities_and_input_is_not_mutated():
    rbm = RBM(RBMConfig(20, 10, dtype="float64"), torch.Generator().manual_seed(0))
    rbm.W.normal_(0, 0.5)
    v = _patterns(n=1, V=20).expand(20000, 20).clone()
    before = v.clone()
    p, h = rbm.sample_hidden(v, torch.Generator().manual_seed(3))
    torch.testing.assert_close(h.mean(0), p[0], atol=0.02, rtol=0)
    assert torch.equal(v, before)


def test_float32_and_float64_agree():
    x = _patterns(n=20)
    runs = []
    for dtype in ("float32", "float64"):
        rbm = RBM(RBMConfig(12, 8, dtype=dtype), torch.Generator().manual_seed(1))
        trainer = CDTrainer(rbm, CDConfig(batch_size=20))
        trainer.step(x.to(rbm.W.dtype))  # same uniforms in both: same samples
        runs.append((rbm.W.double(), rbm.free_energy(x.to(rbm.W.dtype)).double()))
    torch.testing.assert_close(runs[0][0], runs[1][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(runs[0][1], runs[1][1], atol=1e-4, rtol=1e-6)


def test_learned_sigma_stays_within_its_bounds():
    rbm, _ = _trained("gaussian", learn_sigma=True, epochs=5)
    lo, hi = rbm.cfg.sigma_bounds
    assert (rbm.sigma >= lo - 1e-12).all() and (rbm.sigma <= hi + 1e-12).all()
    assert not torch.allclose(rbm.sigma, torch.ones_like(rbm.sigma))  # it did learn


def test_divergence_names_the_cause():
    x = _patterns() * 50  # Gaussian units on unstandardised data at a binary learning rate
    rbm = RBM(RBMConfig(12, 8, visible="gaussian"), torch.Generator().manual_seed(0))
    with pytest.raises(RBMDivergedError, match="standardised"):
        run_epochs(CDTrainer(rbm, CDConfig(epochs=5, lr=5.0, batch_size=20)), x)


def test_binary_units_reject_data_outside_0_1():
    prep = fit_preprocessing(torch.rand(4, 1, 3, 3), "binary", False)
    with pytest.raises(ConfigError, match="--binarize"):
        prep(torch.rand(4, 1, 3, 3) * 3)
    assert set(fit_preprocessing(torch.rand(4, 9), "binary", True)(
        torch.rand(4, 9) * 3).unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("persistent", [False, True])
def test_resume_equals_an_uninterrupted_run(tmp_path, persistent):
    x = _patterns()
    prep = fit_preprocessing(x, "binary", False)

    def fresh():
        rbm = RBM(RBMConfig(12, 8), torch.Generator().manual_seed(1))
        return rbm, CDConfig(epochs=4, batch_size=30, persistent=persistent, cd_k=2,
                             momentum=0.9)

    rbm, cfg = fresh()
    run_epochs(CDTrainer(rbm, cfg), x.float())
    rbm2, cfg2 = fresh()
    half = CDTrainer(rbm2, CDConfig(**{**cfg2.to_dict(), "epochs": 2}))
    run_epochs(half, x.float())
    io.save(tmp_path / "half.pt", rbm2, prep, half)
    payload = io.load_payload(tmp_path / "half.pt")
    rbm3 = io.rbm_from_payload(payload, tmp_path / "half.pt")
    run_epochs(io.resume_trainer(payload, rbm3, epochs=4), x.float())
    assert torch.equal(rbm3.W, rbm.W) and torch.equal(rbm3.b_hid, rbm.b_hid)
    if persistent:
        assert "chain" in payload["optimizer"]


def test_load_returns_the_model(tmp_path):
    rbm, _ = _trained(epochs=1)
    io.save(tmp_path / "m.pt", rbm, fit_preprocessing(torch.rand(2, 12), "binary", False))
    loaded = layerwise.rbm.load(tmp_path / "m.pt")
    assert torch.equal(loaded.W, rbm.W) and loaded.cfg == rbm.cfg


def test_cli_train_features_tensorboard_sample_ais_info(tmp_path, capsys):
    ckpt, logdir = tmp_path / "rbm.pt", tmp_path / "tb"
    assert main(["rbm", "train", "--hidden", "64", "--epochs", "2", "--save", str(ckpt),
                 "--logdir", str(logdir), "--images", str(tmp_path), "--eval-features",
                 "--device", "cpu", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["epochs"] == 2 and figures["epoch_seconds"] > 0
    assert 0 < figures["recon_error"] < 0.2
    assert 0.5 < figures["feature_accuracy"] <= 1 and 0.5 < figures["raw_accuracy"] <= 1
    events = EventAccumulator(str(logdir / "train"), size_guidance={"histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert {"rbm/recon_error", "rbm/pseudo_likelihood", "rbm/free_energy_gap"} <= set(
        tags["scalars"])
    assert [e.step for e in events.Scalars("rbm/recon_error")] == [1, 2]
    assert "W" in tags["histograms"] and "filters" in tags["images"]
    assert (tmp_path / "filters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["rbm", "sample", str(ckpt), "--out", str(tmp_path / "s.png"), "-n", "9",
                 "--steps", "5", "--json"]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["rbm", "ais", str(ckpt), "--runs", "8", "--betas", "200", "--json"]) == 0
    ais_figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert math.isfinite(ais_figures["log_z"]) and ais_figures["log_likelihood"] < 0
    assert main(["rbm", "info", str(ckpt), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["model"]["n_hidden"] == 64 and info["epochs"] == 2


def test_cli_errors_are_one_sentence(tmp_path, capsys):
    assert main(["rbm", "info", str(tmp_path / "missing.pt")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["rbm", "train", "--cd-k", "0", "--epochs", "1"]) == 2
    assert "--cd-k" in capsys.readouterr().err
    assert main(["dbn", "train", "--layers", "5,x"]) == 2
    assert "--layers" in capsys.readouterr().err


def test_dbn_pretraining_initialises_the_classifier(capsys):
    assert main(["dbn", "train", "--layers", "64,32", "--epochs", "1", "--finetune-epochs", "1",
                 "--device", "cpu", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["layers"] == [64, 32]
    assert 0.3 < figures["dbn_accuracy"] <= 1 and 0 < figures["random_init_accuracy"] <= 1


def test_gaussian_preprocessing_standardises_with_a_std_floor():
    x = torch.rand(500, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    x[:, :, 0, 0] = 0.5  # a pixel that never varies
    prep = fit_preprocessing(x, "gaussian", False)
    v = prep(x)
    assert v[:, 1:].mean(0).abs().max() < 1e-5
    assert torch.allclose(v[:, 1:].std(0), torch.ones(3), atol=1e-4)
    assert prep.std[0].item() == pytest.approx(0.05) and v[:, 0].abs().max() < 1e-6


def test_ais_warns_when_its_estimate_cannot_be_trusted():
    """Too few temperatures for a peaked model: the estimate moves with their number, and the
    warning says what to raise; with enough of them (and an exact answer to check) it does not."""
    from layerwise.data.datasets import Dataset, Split
    from layerwise.rbm.data import Preprocessing
    from layerwise.rbm.measures import held_out_likelihood

    g = torch.Generator().manual_seed(0)
    rbm = RBM(RBMConfig(12, 10, dtype="float64"))
    rbm.W.normal_(0, 3.0, generator=g)  # a rugged energy landscape
    x = (torch.rand(50, 12, generator=g) < 0.5).double()
    data = Dataset("bits", "unsupervised", Split(x, torch.zeros(50)), None,
                   Split(x[:10], torch.zeros(10)))
    rough = held_out_likelihood(rbm, Preprocessing(), data, runs=20, betas=40,
                                generator=torch.Generator().manual_seed(1))
    assert any("raise --betas" in w for w in rough["warnings"])
    fine = held_out_likelihood(rbm, Preprocessing(), data, runs=200, betas=4000,
                               generator=torch.Generator().manual_seed(1))
    assert abs(fine["log_z"] - fine["exact_log_z"]) < 0.2 and fine["warnings"] == []


def test_pictures_show_every_filter_large_and_samples_say_when_chains_did_not_mix(tmp_path):
    import matplotlib.image

    from layerwise.rbm.images import filter_grid, filters_title, mixing_note, save_png

    rbm = RBM(RBMConfig(784, 150), torch.Generator().manual_seed(0))
    path = save_png(filter_grid(rbm.W), tmp_path / "f.png", filters_title(rbm.W))
    image = matplotlib.image.imread(path)
    # 150 filters of 28 pixels: 13 columns of 29, each pixel drawn 3 times larger.
    assert image.shape[1] == 3 * (13 * 29 + 1) and image.shape[0] > 3 * (12 * 29)
    assert "every hidden unit" in filters_title(rbm.W)
    assert "the first 400 of 500" in filters_title(torch.zeros(784, 500))
    alike = torch.full((16, 784), 0.3)
    assert "nearly alike" in mixing_note(alike, 1000) and "--from-data" in mixing_note(alike, 9)
    varied = (torch.rand(16, 784, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    assert mixing_note(varied, 1000) is None


def test_the_epoch_figures_are_explained_once_under_the_first_epoch(capsys):
    import layerwise as lw

    x = (torch.rand(300, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    data = lw.Dataset("toy", "unsupervised", lw.Split(x[:250], torch.zeros(250)),
                      lw.Split(x[250:], torch.zeros(50)), lw.Split(x[:0], torch.zeros(0)))
    lw.fit_rbm(lw.RBMConfig(n_hidden=4), data, lw.CDConfig(epochs=3, batch_size=25),
               lw.RunConfig(device="cpu"))
    out = capsys.readouterr()
    text = out.out + out.err
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("epoch   1"))
    assert lines[first + 1].startswith("note: recon error is the mean squared difference")
    flat = " ".join(text.split())
    assert text.count("note: recon error") == 1 and "nats per visible unit" in flat
    assert "nats per example" in flat and "epoch   3" in text


def test_probabilities_hold_no_subnormal_numbers():
    """A sigmoid below about -87 is a subnormal float32, which makes the CD products many times
    slower on x86 CPUs: mean_hidden and mean_visible set such probabilities to 0."""
    from layerwise.rbm.model import probabilities_

    def subnormal(t):
        return int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())

    z = torch.cat([torch.linspace(-110.0, -80.0, 1000), torch.linspace(-60.0, 60.0, 1000)])
    assert subnormal(torch.sigmoid(z)) > 0             # what a plain sigmoid gives
    p = probabilities_(z.clone())
    assert subnormal(p) == 0
    kept = torch.sigmoid(z) > 1e-30
    assert torch.equal(p[kept], torch.sigmoid(z)[kept]) and not p[~kept].any()
    rbm = RBM(RBMConfig(6, 500), torch.Generator().manual_seed(0))
    with torch.no_grad():
        rbm.W.copy_(torch.linspace(-110.0, -80.0, 500).expand(6, 500) / 6)   # inputs -110..-80
    assert subnormal(torch.sigmoid(torch.ones(3, 6) @ rbm.W)) > 0
    assert subnormal(rbm.mean_hidden(torch.ones(3, 6))) == 0
    assert subnormal(rbm.mean_visible(torch.ones(3, 500))) == 0
